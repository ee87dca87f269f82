DROP INDEX audit_log_nodes_event;
ALTER TABLE audit_log_nodes ADD CONSTRAINT audit_log_nodes_event_id_key UNIQUE (event_id);
