ALTER TABLE organizations DROP COLUMN supervisory_body_id;
ALTER TABLE users DROP COLUMN supervisory_body_id;
DROP TABLE supervisory_bodies;
