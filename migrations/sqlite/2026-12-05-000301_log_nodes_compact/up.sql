-- The log's nodes cost less to append: the table is clustered on (level, idx) (no separate
-- rowid tree), and only leaves are in the event index (interior nodes have no event). Every
-- append writes about two node rows, so this halves the B-tree inserts the log adds.
CREATE TABLE audit_log_nodes_next (
    level    BIGINT NOT NULL CHECK (level >= 0),
    idx      BIGINT NOT NULL CHECK (idx >= 0),
    hash     BLOB NOT NULL,
    event_id BIGINT,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
INSERT INTO audit_log_nodes_next (level, idx, hash, event_id)
    SELECT level, idx, hash, event_id FROM audit_log_nodes;
DROP TABLE audit_log_nodes;
ALTER TABLE audit_log_nodes_next RENAME TO audit_log_nodes;
CREATE UNIQUE INDEX audit_log_nodes_event ON audit_log_nodes (event_id) WHERE event_id IS NOT NULL;

CREATE TRIGGER audit_log_nodes_no_update BEFORE UPDATE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_nodes_no_delete BEFORE DELETE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: DELETE refused');
END;
