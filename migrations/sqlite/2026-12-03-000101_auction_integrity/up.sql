-- Auctions that survive real life: the time of the last accepted bid (so each bid is
-- serialised after it), the runner-up option of a listing, deal deadlines and the record of a
-- winner's default, and the persisted offset of the sandbox clock (non-production only).
ALTER TABLE auctions ADD COLUMN last_bid_at TIMESTAMP;
ALTER TABLE listings ADD COLUMN runner_up_offer BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deals ADD COLUMN offer_due_at TIMESTAMP;
ALTER TABLE deals ADD COLUMN payment_due_at TIMESTAMP;

-- One row per default: who defaulted on which deal, at what price, why.
CREATE TABLE deal_defaults (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id            BIGINT NOT NULL REFERENCES deals (id),
    listing_id         BIGINT NOT NULL REFERENCES listings (id),
    round              INTEGER NOT NULL,
    registration_id    BIGINT NOT NULL REFERENCES registrations (id),
    bidder_code        TEXT NOT NULL,
    price              BIGINT NOT NULL,
    reason             TEXT NOT NULL,
    evidence_reference TEXT,
    defaulted_at       TIMESTAMP NOT NULL,
    recorded_by        BIGINT REFERENCES users (id)
);
CREATE INDEX deal_defaults_deal ON deal_defaults (deal_id);

-- The sandbox clock's forward offset: one row, shared by every instance.
CREATE TABLE sandbox_clock (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    offset_micros BIGINT NOT NULL CHECK (offset_micros >= 0),
    updated_at    TIMESTAMP NOT NULL
);
