DROP INDEX password_resets_user;
DROP TABLE password_resets;
ALTER TABLE users DROP COLUMN disabled_at;
