-- Only leaves are in the event index (interior nodes have no event): every append writes
-- about two node rows, one of them interior, so this saves an index insert per append.
ALTER TABLE audit_log_nodes DROP CONSTRAINT audit_log_nodes_event_id_key;
CREATE UNIQUE INDEX audit_log_nodes_event ON audit_log_nodes (event_id) WHERE event_id IS NOT NULL;
