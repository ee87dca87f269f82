DROP TABLE audit_log_cosignatures;
DROP TABLE audit_log_checkpoints;
DROP TABLE audit_log_nodes;
DROP TABLE audit_log_head;
