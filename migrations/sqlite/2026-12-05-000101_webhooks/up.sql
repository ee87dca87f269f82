-- Signed webhooks to the supervision platform (在线监管平台): the registrations, what each one
-- listens to, and the delivery outbox.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    -- The HMAC key: needed in clear to sign, so it is never shown, logged or audited.
    secret     TEXT NOT NULL,
    -- The patterns as the admin sent them, a JSON array of strings.
    events     TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per audit action (exact) or action prefix (prefix) a webhook listens to, as
-- `domain::webhook` expands the admin's patterns.
CREATE TABLE webhook_subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    match_kind TEXT NOT NULL CHECK (match_kind IN ('exact', 'prefix')),
    action     TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_webhook ON webhook_subscriptions (webhook_id);

-- The outbox: one row per (webhook, audit event), written by the trigger below in the
-- transaction that appends the event.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id),
    audit_event_id  BIGINT NOT NULL REFERENCES audit_events (id),
    -- The event's stream: deliveries of one stream (a listing's) go out in order.
    stream          TEXT NOT NULL,
    listing_id      BIGINT,
    -- The exact bytes signed and sent, fixed at the first attempt.
    body            TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until   TIMESTAMP,
    claim_token     TEXT,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      TIMESTAMP NOT NULL,
    delivered_at    TIMESTAMP,
    UNIQUE (webhook_id, audit_event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_stream ON webhook_deliveries (webhook_id, stream, audit_event_id);

-- The fan-out: every appended audit event is queued for each webhook listening to it, in the
-- appender's transaction, without a statement from the application.
CREATE TRIGGER audit_events_webhook_fanout AFTER INSERT ON audit_events
BEGIN
    INSERT INTO webhook_deliveries
        (webhook_id, audit_event_id, stream, listing_id, status, attempts, next_attempt_at, created_at)
    SELECT DISTINCT s.webhook_id, NEW.id, NEW.stream,
           CASE WHEN NEW.stream LIKE 'listing:%' THEN CAST(substr(NEW.stream, 9) AS INTEGER) END,
           'pending', 0, NEW.occurred_at, NEW.occurred_at
    FROM webhook_subscriptions s
    WHERE (s.match_kind = 'exact' AND s.action = NEW.action)
       OR (s.match_kind = 'prefix' AND substr(NEW.action, 1, length(s.action)) = s.action);
END;
