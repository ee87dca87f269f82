ALTER TABLE deals DROP COLUMN contract_overdue_flagged;
