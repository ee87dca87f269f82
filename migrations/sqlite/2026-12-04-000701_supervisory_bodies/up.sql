-- Supervising bodies (国资监管机构): the province's SASAC at the root, the 11 city SASACs and
-- county/district offices below, keyed by their GB/T 2260 region code. Every organisation
-- belongs to one (existing ones to the province); an auditor may belong to one (none: the
-- province, everything).
CREATE TABLE supervisory_bodies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL UNIQUE,
    parent_id   BIGINT REFERENCES supervisory_bodies (id),
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX supervisory_bodies_parent ON supervisory_bodies (parent_id);

INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('浙江省国资委', '330000', NULL, '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市国资委', '330100', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市国资委', '330200', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('温州市国资委', '330300', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('嘉兴市国资委', '330400', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('湖州市国资委', '330500', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('绍兴市国资委', '330600', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('金华市国资委', '330700', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('衢州市国资委', '330800', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('舟山市国资委', '330900', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('台州市国资委', '331000', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('丽水市国资委', '331100', (SELECT id FROM supervisory_bodies WHERE region_code = '330000'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市上城区国资办', '330102', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市拱墅区国资办', '330105', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市西湖区国资办', '330106', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市滨江区国资办', '330108', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市萧山区国资办', '330109', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('杭州市余杭区国资办', '330110', (SELECT id FROM supervisory_bodies WHERE region_code = '330100'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市海曙区国资办', '330203', (SELECT id FROM supervisory_bodies WHERE region_code = '330200'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市江北区国资办', '330205', (SELECT id FROM supervisory_bodies WHERE region_code = '330200'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市北仑区国资办', '330206', (SELECT id FROM supervisory_bodies WHERE region_code = '330200'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市镇海区国资办', '330211', (SELECT id FROM supervisory_bodies WHERE region_code = '330200'), '2026-12-04 00:00:00');
INSERT INTO supervisory_bodies (name, region_code, parent_id, created_at) VALUES ('宁波市鄞州区国资办', '330212', (SELECT id FROM supervisory_bodies WHERE region_code = '330200'), '2026-12-04 00:00:00');

ALTER TABLE organizations ADD COLUMN supervisory_body_id BIGINT REFERENCES supervisory_bodies (id);
UPDATE organizations SET supervisory_body_id = (SELECT id FROM supervisory_bodies WHERE region_code = '330000');
CREATE INDEX organizations_supervisory_body ON organizations (supervisory_body_id);
ALTER TABLE users ADD COLUMN supervisory_body_id BIGINT REFERENCES supervisory_bodies (id);
