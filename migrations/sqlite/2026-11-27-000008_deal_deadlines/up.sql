-- Set once the contract deadline of a deal has passed unsigned (flagged in the audit trail).
ALTER TABLE deals ADD COLUMN contract_overdue_flagged BOOLEAN NOT NULL DEFAULT FALSE;
