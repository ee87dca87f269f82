DROP TABLE registrations;
DROP TABLE listing_rounds;
DROP TABLE listings;
DROP TABLE project_counters;
