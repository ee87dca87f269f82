-- Urgent mail (lockouts, deadlines, auction events) is sent before bulk mail (welcome,
-- verification links): 0 urgent, 1 bulk. The outbox claims by (priority, id).
ALTER TABLE notifications ADD COLUMN priority SMALLINT NOT NULL DEFAULT 1;
CREATE INDEX notifications_claim ON notifications (status, priority, id);
-- Counting the mails a recipient was sent lately (resend limits).
CREATE INDEX notifications_address ON notifications (to_address, created_at);
