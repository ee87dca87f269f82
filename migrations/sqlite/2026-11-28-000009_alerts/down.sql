DROP INDEX bids_listing_ip;
DROP INDEX registrations_listing_ip;
DROP TABLE alerts;
