-- The whole road of a listing: the qualification window after disclosure and the enterprise's
-- opinion, the instant the listing is decided, extensions and supplementary notices, the
-- deposit of each round, payment plans with instalments, and reminders sent once.
ALTER TABLE listings ADD COLUMN decision_due_at TIMESTAMP;
UPDATE listings SET decision_due_at = disclosure_end
    WHERE status = 'disclosure' AND disclosure_decided_at IS NULL;
DROP INDEX listings_due;
CREATE INDEX listings_decision_due ON listings (status, decision_due_at);
ALTER TABLE listing_rounds ADD COLUMN deposit BIGINT;

ALTER TABLE registrations ADD COLUMN qualified_at TIMESTAMP;
ALTER TABLE registrations ADD COLUMN review_due_at TIMESTAMP;
ALTER TABLE registrations ADD COLUMN seller_opinion TEXT CHECK (seller_opinion IN ('agreed', 'objected'));
ALTER TABLE registrations ADD COLUMN seller_opinion_comment TEXT;
ALTER TABLE registrations ADD COLUMN seller_opinion_at TIMESTAMP;
ALTER TABLE registrations ADD COLUMN seller_opinion_due_at TIMESTAMP;

ALTER TABLE deals ADD COLUMN payment_plan TEXT CHECK (payment_plan IN ('lump_sum', 'instalments'));
ALTER TABLE deals ADD COLUMN guarantee_reference TEXT;
ALTER TABLE deals ADD COLUMN paid_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deals ADD COLUMN first_payment_due_at TIMESTAMP;
ALTER TABLE deals ADD COLUMN first_payment_min BIGINT;

-- Each payment recorded against a deal (an instalment, or the whole price).
CREATE TABLE deal_payments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id     BIGINT NOT NULL REFERENCES deals (id),
    listing_id  BIGINT NOT NULL REFERENCES listings (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    reference   TEXT NOT NULL,
    paid_at     TIMESTAMP NOT NULL,
    recorded_by BIGINT REFERENCES users (id)
);
CREATE INDEX deal_payments_deal ON deal_payments (deal_id);

-- Public notices of a disclosure: extensions (延期) and supplementary notices (补充公告).
CREATE TABLE listing_notices (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id            BIGINT NOT NULL REFERENCES listings (id),
    round                 INTEGER NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('extension', 'supplementary')),
    text                  TEXT NOT NULL,
    material              BOOLEAN NOT NULL,
    disclosure_end_before TIMESTAMP NOT NULL,
    disclosure_end_after  TIMESTAMP NOT NULL,
    published_at          TIMESTAMP NOT NULL,
    published_by          BIGINT REFERENCES users (id)
);
CREATE INDEX listing_notices_listing ON listing_notices (listing_id, id);

-- Deadline reminders, sent once per subject and kind.
CREATE TABLE reminders (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    kind    TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    UNIQUE (subject, kind)
);
