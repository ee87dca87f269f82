-- The minimal transaction behind one accepted bid, for pgbench; `benches/bids.rs` runs it
-- next to `POST /api/v1/listings/{id}/bids` with the same number of clients:
--
--   pgbench -n -M prepared -c C -j C -T SECONDS -f benches/bid_tx.sql \
--       -D aid_lo=FIRST -D aid_hi=LAST -D rid=REGISTRATION -D actor=USER DATABASE_URL
--
-- aid_lo = aid_hi bids on one auction (the hot case); a range spreads the bids uniformly.
-- It does what `store::auctions::{lock, accept}` and `audit::append` do for one listing's
-- chain, and nothing else (the app also appends to the transparency log, under one lock for
-- the whole exchange, see the README's benchmark section): no session lookup, no idempotency bookkeeping, no eligibility reads, no outbid mail,
-- no NOTIFY. Seq and amount come from the locked auction row (bid_count + 1, current price +
-- increment), so they are unique under the (auction_id, seq) and (auction_id, amount)
-- constraints exactly as in the application; the audit event chains to the stream head it
-- locked. With -M prepared the variables travel as bind parameters, as diesel's do.

\set aid random(:aid_lo, :aid_hi)

BEGIN;

-- store::auctions::lock: bids on one auction queue here.
SELECT listing_id,
       bid_count + 1 AS seq,
       COALESCE(current_price, start_price) + increment AS amount,
       ends_at
  FROM auctions
 WHERE id = :aid
   FOR UPDATE \gset

-- store::auctions::accept: the bid row, then the auction's standing.
INSERT INTO bids (auction_id, listing_id, seq, registration_id, bidder_code, amount,
                  placed_at, ends_at, client_ip, user_agent)
VALUES (:aid, :listing_id, :seq, :rid, 'PGBENCH', :amount,
        now() AT TIME ZONE 'UTC', :ends_at, '127.0.0.1', 'pgbench');

UPDATE auctions
   SET current_price = :amount,
       leading_registration_id = :rid,
       leading_bidder_code = 'PGBENCH',
       bid_count = :seq,
       ends_at = :ends_at
 WHERE id = :aid;

-- audit::append: create the stream head if new, lock it, chain the event, move it.
INSERT INTO audit_heads (stream, seq, hash)
VALUES ('listing:' || :listing_id, 0,
        '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT DO NOTHING;

SELECT seq + 1 AS stream_seq, hash AS prev_hash
  FROM audit_heads
 WHERE stream = 'listing:' || :listing_id
   FOR UPDATE \gset

INSERT INTO audit_events (stream, stream_seq, occurred_at, actor_id, actor_role, action,
                          payload, client_ip, request_id, prev_hash, hash)
VALUES ('listing:' || :listing_id, :stream_seq, date_trunc('milliseconds', now() AT TIME ZONE 'UTC'),
        :actor, 'bidder', 'bid.placed',
        '{"amount":"' || :amount || '","auction_id":' || :aid || ',"bidder_code":"PGBENCH","ends_at":"'
            || :ends_at::text || '","listing_id":' || :listing_id || ',"registration_id":' || :rid
            || ',"seq":' || :seq || '}',
        '127.0.0.1', md5(random()::text), :prev_hash,
        encode(sha256(convert_to(:prev_hash::text || '|' || :stream_seq || '|' || :amount, 'UTF8')), 'hex'))
RETURNING hash AS head_hash \gset

UPDATE audit_heads
   SET seq = :stream_seq, hash = :head_hash
 WHERE stream = 'listing:' || :listing_id;

COMMIT;
