-- The audit trail: one hash chain per stream, append-only.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
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

-- The current head of each stream. Appenders lock this row, so appends to one stream are
-- serialised while different streams proceed in parallel. It is a convenience, not evidence:
-- verification recomputes everything from audit_events.
CREATE TABLE audit_heads (
    stream TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);

CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
