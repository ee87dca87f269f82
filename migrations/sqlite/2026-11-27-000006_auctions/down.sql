DROP TABLE bid_requests;
DROP TABLE bids;
DROP TABLE auctions;
