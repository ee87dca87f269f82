-- The deal after an award: contract, payment, announcement and the transaction
-- certificate (交易凭证), issued once.
CREATE TABLE deals (
    id                BIGSERIAL PRIMARY KEY,
    listing_id        BIGINT NOT NULL REFERENCES listings (id),
    round             INTEGER NOT NULL,
    registration_id   BIGINT NOT NULL REFERENCES registrations (id),
    bidder_code       TEXT NOT NULL,
    price             BIGINT NOT NULL,
    method            TEXT NOT NULL CHECK (method IN ('auction', 'negotiation')),
    status            TEXT NOT NULL,
    awarded_at        TIMESTAMP NOT NULL,
    contract_due_at   TIMESTAMP NOT NULL,
    contract_signed_at TIMESTAMP,
    paid_at           TIMESTAMP,
    payment_reference TEXT,
    announced_at      TIMESTAMP,
    closed_at         TIMESTAMP,
    certificate_no    TEXT UNIQUE,
    UNIQUE (listing_id, round)
);
