DROP TRIGGER audit_checkpoints_no_delete;
DROP TRIGGER audit_checkpoints_no_update;
ALTER TABLE audit_heads DROP COLUMN checkpoint_seq;
DROP TABLE audit_checkpoints;
