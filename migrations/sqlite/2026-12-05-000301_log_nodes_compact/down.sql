CREATE TABLE audit_log_nodes_prev (
    level    BIGINT NOT NULL CHECK (level >= 0),
    idx      BIGINT NOT NULL CHECK (idx >= 0),
    hash     BLOB NOT NULL,
    event_id BIGINT UNIQUE,
    PRIMARY KEY (level, idx)
);
INSERT INTO audit_log_nodes_prev (level, idx, hash, event_id)
    SELECT level, idx, hash, event_id FROM audit_log_nodes;
DROP TABLE audit_log_nodes;
ALTER TABLE audit_log_nodes_prev RENAME TO audit_log_nodes;

CREATE TRIGGER audit_log_nodes_no_update BEFORE UPDATE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_nodes_no_delete BEFORE DELETE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: DELETE refused');
END;
