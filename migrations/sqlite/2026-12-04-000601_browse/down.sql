DROP TRIGGER listings_title_fts_update;
DROP TRIGGER listings_title_fts_delete;
DROP TRIGGER listings_title_fts_insert;
DROP TABLE listings_title_fts;
CREATE INDEX listings_price ON listings (listing_price);
CREATE INDEX listings_kind_price ON listings (kind, listing_price);
DROP INDEX listings_kind_id;
