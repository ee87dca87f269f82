-- The public browse (GET /api/v1/listings) walks listings newest first (by id) and stops
-- after a page: each equality filter gets an index that ends in id.
CREATE INDEX listings_status_id ON listings (status, id);
DROP INDEX listings_status;
CREATE INDEX listings_kind_id ON listings (kind, id);

-- Title search (`lower(title) LIKE '%...%'`) through trigrams; pg_trgm is a trusted
-- extension, so the owner of a fresh database may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX listings_title_trgm ON listings USING gin (lower(title) gin_trgm_ops);
