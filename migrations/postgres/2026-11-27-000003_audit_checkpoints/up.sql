-- Signed checkpoints over the heads of every audit stream, append-only.
-- `heads` holds only the heads that moved since the previous checkpoint, as canonical JSON
-- [[stream, seq, hash], ...]; the full set at checkpoint N is the union of deltas 1..N.
CREATE TABLE audit_checkpoints (
    id         BIGINT PRIMARY KEY CHECK (id >= 1),
    created_at TIMESTAMP NOT NULL,
    streams    BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    root       TEXT NOT NULL,
    heads      TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

-- Which seq of each stream the latest checkpoint covered (to compute the next delta).
ALTER TABLE audit_heads ADD COLUMN checkpoint_seq BIGINT NOT NULL DEFAULT 0;
