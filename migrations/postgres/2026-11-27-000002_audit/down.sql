DROP TABLE audit_heads;
DROP TABLE audit_events;
DROP FUNCTION audit_reject_change();
