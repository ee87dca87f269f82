-- Listings (挂牌项目), their rounds, registrations of intent and deposits.
-- Money is whole fen (BIGINT); dates of appraisals are calendar dates.
CREATE TABLE project_counters (
    kind TEXT NOT NULL,
    year INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (kind, year)
);

CREATE TABLE listings (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    project_no              TEXT NOT NULL UNIQUE,
    organization_id         BIGINT NOT NULL REFERENCES organizations (id),
    created_by              BIGINT NOT NULL REFERENCES users (id),
    kind                    TEXT NOT NULL,
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL,
    status                  TEXT NOT NULL,
    appraised_value         BIGINT NOT NULL,
    appraisal_date          DATE NOT NULL,
    listing_price           BIGINT NOT NULL,
    deposit                 BIGINT NOT NULL,
    increment               BIGINT NOT NULL,
    disclosure_working_days INTEGER NOT NULL,
    disclosure_start        TIMESTAMP,
    disclosure_end          TIMESTAMP,
    disclosure_decided_at   TIMESTAMP,
    free_bidding_seconds    INTEGER NOT NULL,
    countdown_seconds       INTEGER NOT NULL,
    allow_self_raise        BOOLEAN NOT NULL DEFAULT FALSE,
    consent_document        TEXT,
    round                   INTEGER NOT NULL DEFAULT 1,
    first_disclosure_at     TIMESTAMP,
    review_comment          TEXT,
    suspended_from          TEXT,
    suspended_at            TIMESTAMP,
    suspension_reason       TEXT,
    suspension_alerted      BOOLEAN NOT NULL DEFAULT FALSE,
    terminated_reason       TEXT,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);
CREATE INDEX listings_status ON listings (status);
CREATE INDEX listings_kind_price ON listings (kind, listing_price);
CREATE INDEX listings_price ON listings (listing_price);
CREATE INDEX listings_organization ON listings (organization_id);
CREATE INDEX listings_due ON listings (status, disclosure_end);

CREATE TABLE listing_rounds (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id              BIGINT NOT NULL REFERENCES listings (id),
    round                   INTEGER NOT NULL,
    listing_price           BIGINT NOT NULL,
    disclosure_working_days INTEGER NOT NULL,
    consent_document        TEXT,
    disclosure_start        TIMESTAMP,
    disclosure_end          TIMESTAMP,
    outcome                 TEXT,
    created_at              TIMESTAMP NOT NULL,
    UNIQUE (listing_id, round)
);

CREATE TABLE registrations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id        BIGINT NOT NULL REFERENCES listings (id),
    round             INTEGER NOT NULL,
    user_id           BIGINT NOT NULL REFERENCES users (id),
    organization_id   BIGINT NOT NULL REFERENCES organizations (id),
    status            TEXT NOT NULL DEFAULT 'pending',
    deposit_status    TEXT NOT NULL DEFAULT 'unpaid',
    deposit_reference TEXT,
    deposit_due_at    TIMESTAMP,
    bidder_code       TEXT,
    statement         TEXT,
    review_comment    TEXT,
    client_ip         TEXT,
    user_agent        TEXT,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    UNIQUE (listing_id, round, organization_id),
    UNIQUE (listing_id, bidder_code)
);
CREATE INDEX registrations_user ON registrations (user_id);
