-- Two-factor authentication (TOTP, RFC 6238). One row per user who started enrolling: the
-- shared secret (the authenticator app holds the same), pending until `confirmed_at`; the last
-- time step a code was accepted for, so a code cannot be used twice within its step.
CREATE TABLE user_mfa (
    user_id      BIGINT PRIMARY KEY NOT NULL REFERENCES users (id),
    secret       TEXT NOT NULL,
    confirmed_at TIMESTAMP,
    last_step    BIGINT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- Recovery codes, stored only as SHA-256 hashes; each works once.
CREATE TABLE mfa_recovery_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);

-- The second step of a login: a password was right, a code is still due. The token is stored
-- only as a SHA-256 hash, lives a few minutes and works once.
CREATE TABLE mfa_challenges (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);
