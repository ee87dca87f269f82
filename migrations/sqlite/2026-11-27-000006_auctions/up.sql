-- Online auctions, their bids, remembered bid requests (idempotency) and deals.
CREATE TABLE auctions (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id              BIGINT NOT NULL REFERENCES listings (id),
    round                   INTEGER NOT NULL,
    starts_at               TIMESTAMP NOT NULL,
    free_ends_at            TIMESTAMP NOT NULL,
    ends_at                 TIMESTAMP NOT NULL,
    countdown_seconds       INTEGER NOT NULL,
    start_price             BIGINT NOT NULL,
    increment               BIGINT NOT NULL,
    allow_self_raise        BOOLEAN NOT NULL,
    current_price           BIGINT,
    leading_registration_id BIGINT REFERENCES registrations (id),
    leading_bidder_code     TEXT,
    bid_count               INTEGER NOT NULL DEFAULT 0,
    closed_at               TIMESTAMP,
    created_at              TIMESTAMP NOT NULL,
    UNIQUE (listing_id, round)
);
CREATE INDEX auctions_open ON auctions (closed_at, ends_at);

-- Accepted bids only; (auction, seq) has no gaps and no amount is accepted twice.
CREATE TABLE bids (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    auction_id      BIGINT NOT NULL REFERENCES auctions (id),
    listing_id      BIGINT NOT NULL REFERENCES listings (id),
    seq             INTEGER NOT NULL,
    registration_id BIGINT NOT NULL REFERENCES registrations (id),
    bidder_code     TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    placed_at       TIMESTAMP NOT NULL,
    ends_at         TIMESTAMP NOT NULL,
    client_ip       TEXT,
    user_agent      TEXT,
    UNIQUE (auction_id, seq),
    UNIQUE (auction_id, amount)
);

-- Bid requests by Idempotency-Key: a retry gets the original answer.
CREATE TABLE bid_requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BIGINT NOT NULL REFERENCES users (id),
    listing_id      BIGINT NOT NULL REFERENCES listings (id),
    idempotency_key TEXT NOT NULL,
    bid_id          BIGINT NOT NULL REFERENCES bids (id),
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (user_id, listing_id, idempotency_key)
);
