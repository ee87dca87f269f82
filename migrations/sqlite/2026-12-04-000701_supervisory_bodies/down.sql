DROP INDEX organizations_supervisory_body;
ALTER TABLE organizations DROP COLUMN supervisory_body_id;
ALTER TABLE users DROP COLUMN supervisory_body_id;
DROP INDEX supervisory_bodies_parent;
DROP TABLE supervisory_bodies;
