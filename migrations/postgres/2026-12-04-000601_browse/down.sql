-- The pg_trgm extension stays: other objects of the database may use it.
DROP INDEX listings_title_trgm;
DROP INDEX listings_kind_id;
CREATE INDEX listings_status ON listings (status);
DROP INDEX listings_status_id;
