DROP INDEX notifications_address;
DROP INDEX notifications_claim;
ALTER TABLE notifications DROP COLUMN priority;
