-- The public browse (GET /api/v1/listings) walks listings newest first (by id) and stops
-- after a page. `listings_status (status)` already carries the rowid, so it serves
-- `status = ? ORDER BY id DESC`; a kind needs its own (kind, id). Price ranges are checked
-- on the rows walked: SQLite's planner took the price indexes for a range and then sorted
-- every match to find the newest twenty, so they go (PostgreSQL keeps them; its planner
-- weighs the LIMIT).
CREATE INDEX listings_kind_id ON listings (kind, id);
DROP INDEX listings_kind_price;
DROP INDEX listings_price;

-- Title search: an FTS5 index of trigrams over the titles (substring search in any script,
-- Chinese included; case-insensitive). It reads the titles from `listings` itself
-- ("external content") and the triggers below keep it in step.
CREATE VIRTUAL TABLE listings_title_fts USING fts5 (
    title,
    content = 'listings',
    content_rowid = 'id',
    tokenize = 'trigram'
);
INSERT INTO listings_title_fts (listings_title_fts) VALUES ('rebuild');

CREATE TRIGGER listings_title_fts_insert AFTER INSERT ON listings BEGIN
    INSERT INTO listings_title_fts (rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER listings_title_fts_delete AFTER DELETE ON listings BEGIN
    INSERT INTO listings_title_fts (listings_title_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER listings_title_fts_update AFTER UPDATE OF title ON listings BEGIN
    INSERT INTO listings_title_fts (listings_title_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    INSERT INTO listings_title_fts (rowid, title) VALUES (new.id, new.title);
END;
