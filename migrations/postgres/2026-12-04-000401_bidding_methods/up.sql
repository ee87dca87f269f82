-- Bidding methods: the sealed one-time bid (一次报价) and the pre-emptive right (优先购买权).
ALTER TABLE listings ADD COLUMN bidding_method TEXT NOT NULL DEFAULT 'english'
    CHECK (bidding_method IN ('english', 'sealed'));
ALTER TABLE listings ADD COLUMN preemption TEXT NOT NULL DEFAULT 'none'
    CHECK (preemption IN ('none', 'in_auction'));
ALTER TABLE registrations ADD COLUMN preemptive_right BOOLEAN NOT NULL DEFAULT FALSE;
-- Whether the leading bid is a right-holder's (a right-holder may not match another's price).
ALTER TABLE auctions ADD COLUMN leading_holds_right BOOLEAN NOT NULL DEFAULT FALSE;

-- A bid is a raise (English), a right-holder's match of the current price, or an opened
-- sealed bid. Only raises keep one amount per auction: a match repeats the price it
-- matches, and sealed bids may tie.
ALTER TABLE bids ADD COLUMN kind TEXT NOT NULL DEFAULT 'raise'
    CHECK (kind IN ('raise', 'match', 'sealed'));
ALTER TABLE bids DROP CONSTRAINT bids_auction_id_amount_key;
CREATE UNIQUE INDEX bids_raise_amount ON bids (auction_id, amount) WHERE kind = 'raise';

-- Sealed bids until their opening: one per registration and auction. The amount is never
-- served before the window closes; the commitment (SHA-256 over the canonical bytes with the
-- nonce) is in the audit trail from the submission, the amount and nonce from the opening.
CREATE TABLE sealed_bids (
    id              BIGSERIAL PRIMARY KEY,
    auction_id      BIGINT NOT NULL REFERENCES auctions (id),
    listing_id      BIGINT NOT NULL REFERENCES listings (id),
    registration_id BIGINT NOT NULL REFERENCES registrations (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    bidder_code     TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    nonce           TEXT NOT NULL,
    commitment      TEXT NOT NULL,
    placed_at       TIMESTAMP NOT NULL,
    idempotency_key TEXT NOT NULL,
    client_ip       TEXT,
    user_agent      TEXT,
    UNIQUE (auction_id, registration_id),
    UNIQUE (user_id, listing_id, idempotency_key)
);
