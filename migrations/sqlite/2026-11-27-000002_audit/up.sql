-- The audit trail: one hash chain per stream, append-only.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stream      TEXT NOT NULL,
    stream_seq  BIGINT NOT NULL CHECK (stream_seq >= 1),
    occurred_at TIMESTAMP NOT NULL,
    actor_id    BIGINT,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    client_ip   TEXT,
    request_id  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (stream, stream_seq)
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_id ON audit_events (actor_id);
CREATE INDEX audit_events_action ON audit_events (action);

-- The current head of each stream (a convenience; verification trusts only audit_events).
CREATE TABLE audit_heads (
    stream TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_events is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit table audit_events is append-only: DELETE refused');
END;
