DROP TABLE sealed_bids;
DROP INDEX bids_listing_ip;
DROP INDEX bids_raise_amount;
CREATE TABLE bids_prev (
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
INSERT INTO bids_prev SELECT id, auction_id, listing_id, seq, registration_id, bidder_code,
    amount, placed_at, ends_at, client_ip, user_agent FROM bids WHERE kind = 'raise';
CREATE TABLE bid_requests_prev (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BIGINT NOT NULL REFERENCES users (id),
    listing_id      BIGINT NOT NULL REFERENCES listings (id),
    idempotency_key TEXT NOT NULL,
    bid_id          BIGINT NOT NULL REFERENCES bids_prev (id),
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (user_id, listing_id, idempotency_key)
);
INSERT INTO bid_requests_prev SELECT * FROM bid_requests
    WHERE bid_id IN (SELECT id FROM bids_prev);
DROP TABLE bid_requests;
DROP TABLE bids;
ALTER TABLE bids_prev RENAME TO bids;
ALTER TABLE bid_requests_prev RENAME TO bid_requests;
CREATE INDEX bids_listing_ip ON bids (listing_id, client_ip);
ALTER TABLE auctions DROP COLUMN leading_holds_right;
ALTER TABLE registrations DROP COLUMN preemptive_right;
ALTER TABLE listings DROP COLUMN preemption;
ALTER TABLE listings DROP COLUMN bidding_method;
