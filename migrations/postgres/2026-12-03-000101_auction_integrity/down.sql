DROP TABLE sandbox_clock;
DROP INDEX deal_defaults_deal;
DROP TABLE deal_defaults;
ALTER TABLE deals DROP COLUMN payment_due_at;
ALTER TABLE deals DROP COLUMN offer_due_at;
ALTER TABLE listings DROP COLUMN runner_up_offer;
ALTER TABLE auctions DROP COLUMN last_bid_at;
