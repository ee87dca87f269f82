-- Risk alerts (风险预警) raised by the rules in src/domain/risk.rs: one per rule and
-- subject, acknowledged by an auditor with a comment.
CREATE TABLE alerts (
    id               BIGSERIAL PRIMARY KEY,
    rule             TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    subject          TEXT NOT NULL,
    listing_id       BIGINT REFERENCES listings (id),
    organization_id  BIGINT REFERENCES organizations (id),
    detail           TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    acknowledged_at  TIMESTAMP,
    acknowledged_by  BIGINT REFERENCES users (id),
    ack_comment      TEXT,
    UNIQUE (rule, subject)
);
CREATE INDEX alerts_listing ON alerts (listing_id, id);
CREATE INDEX alerts_created ON alerts (created_at);
-- Related-bidder rules look up who else used an address on a listing.
CREATE INDEX registrations_listing_ip ON registrations (listing_id, client_ip);
CREATE INDEX bids_listing_ip ON bids (listing_id, client_ip);
