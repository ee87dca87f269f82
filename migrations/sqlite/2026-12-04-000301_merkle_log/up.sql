-- The global transparency log: one RFC 6962 Merkle tree over every audit event in the order
-- appended (src/audit/tlog.rs). `audit_log_head` is its right edge (size and the hashes of
-- the perfect subtrees covering it), locked by every append; `audit_log_nodes` holds every
-- complete subtree (level 0: the leaves, with the event they log), so a proof reads O(log n)
-- rows. Checkpoints are C2SP signed notes; witnesses add cosignatures.
CREATE TABLE audit_log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     BIGINT NOT NULL CHECK (size >= 0),
    frontier BLOB NOT NULL
);
INSERT INTO audit_log_head (id, size, frontier) VALUES (1, 0, x'');

CREATE TABLE audit_log_nodes (
    level    BIGINT NOT NULL CHECK (level >= 0),
    idx      BIGINT NOT NULL CHECK (idx >= 0),
    hash     BLOB NOT NULL,
    event_id BIGINT UNIQUE,
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_log_checkpoints (
    tree_size  BIGINT PRIMARY KEY CHECK (tree_size >= 0),
    root       BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    note       TEXT NOT NULL
);

CREATE TABLE audit_log_cosignatures (
    tree_size  BIGINT NOT NULL REFERENCES audit_log_checkpoints (tree_size),
    witness    TEXT NOT NULL,
    line       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tree_size, witness)
);

CREATE TRIGGER audit_log_nodes_no_update BEFORE UPDATE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_nodes_no_delete BEFORE DELETE ON audit_log_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_nodes is append-only: DELETE refused');
END;
CREATE TRIGGER audit_log_checkpoints_no_update BEFORE UPDATE ON audit_log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_checkpoints is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_checkpoints_no_delete BEFORE DELETE ON audit_log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_checkpoints is append-only: DELETE refused');
END;
CREATE TRIGGER audit_log_cosignatures_no_update BEFORE UPDATE ON audit_log_cosignatures
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_cosignatures is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_cosignatures_no_delete BEFORE DELETE ON audit_log_cosignatures
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_log_cosignatures is append-only: DELETE refused');
END;
