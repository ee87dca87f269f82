ALTER TABLE audit_heads DROP COLUMN checkpoint_seq;
DROP TABLE audit_checkpoints;
