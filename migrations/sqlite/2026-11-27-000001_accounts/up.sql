-- Organisations, users and logins (sessions with rotating refresh tokens).
-- Timestamps are UTC without a zone, the same on PostgreSQL and SQLite.
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL
        CHECK (role IN ('enterprise', 'bidder', 'operator', 'auditor', 'admin')),
    organization_id   BIGINT REFERENCES organizations (id),
    phone             TEXT,
    locale            TEXT NOT NULL DEFAULT 'zh-CN',
    email_verified_at TIMESTAMP,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked_until      TIMESTAMP,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX users_organization_id ON users (organization_id);

-- One row per login; every refresh token of that login belongs to it, so revoking the
-- session revokes the whole family (logout, or reuse of a rotated refresh token).
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        BIGINT NOT NULL REFERENCES users (id),
    created_at     TIMESTAMP NOT NULL,
    revoked_at     TIMESTAMP,
    revoked_reason TEXT,
    client_ip      TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh tokens are stored only as SHA-256 hashes.
CREATE TABLE refresh_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
