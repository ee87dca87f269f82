-- An administrator may disable an account (its logins end at once, and it cannot sign in
-- until enabled again).
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- Password-reset tokens, stored only as SHA-256 hashes; each works once, for 30 minutes.
CREATE TABLE password_resets (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX password_resets_user ON password_resets (user_id);
