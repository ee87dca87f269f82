-- The transaction behind one accepted bid with the exchange's transparency log appended in it,
-- as the product's rules require (each audit event enters the one log over every event, in
-- global order, in the event's own transaction): `benches/bid_tx.sql` without the log is the
-- first anchor, this is the second. `benches/bids.rs` runs both next to the app:
--
--   pgbench -n -M prepared -c C -j C -T SECONDS -f benches/bid_log_tx.sql \
--       -D aid_lo=FIRST -D aid_hi=LAST -D rid=REGISTRATION -D actor=USER DATABASE_URL
--
-- The bid part is bid_tx.sql's. The audit part does what `audit::log` does on PostgreSQL: the
-- log head's lock (one row for the whole exchange) is taken last and held to the commit, the
-- stream head is read under it, and one statement writes the event, moves the stream head,
-- stores the leaf and every interior node the leaf completes (one per trailing one bit of its
-- index, as an RFC 6962 tree built leaf by leaf does) and moves the log head. The log's rows
-- go to `bench_log_head` and `bench_log_nodes`, made by the bench with the shape, keys and
-- indexes of `audit_log_head` and `audit_log_nodes`, so the application's own log stays
-- whole; the hashes are stand-ins (PostgreSQL's sha256 of the event hash), not a tree.

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

-- audit::log: the exchange-wide lock, then the stream's head read under it.
SELECT size AS log_size FROM bench_log_head WHERE id = 1 FOR UPDATE \gset

SELECT COALESCE((SELECT seq FROM audit_heads WHERE stream = 'listing:' || :listing_id), 0) + 1
           AS stream_seq,
       COALESCE((SELECT hash FROM audit_heads WHERE stream = 'listing:' || :listing_id),
                '0000000000000000000000000000000000000000000000000000000000000000')
           AS prev_hash \gset

-- The event, its stream head, its leaf and the nodes it completes, the log head: one statement.
WITH e AS (
    INSERT INTO audit_events (stream, stream_seq, occurred_at, actor_id, actor_role, action,
                              payload, client_ip, request_id, prev_hash, hash)
    VALUES ('listing:' || :listing_id, :stream_seq,
            date_trunc('milliseconds', now() AT TIME ZONE 'UTC'), :actor, 'bidder', 'bid.placed',
            '{"amount":"' || :amount || '","auction_id":' || :aid || ',"bidder_code":"PGBENCH","ends_at":"'
                || :ends_at::text || '","listing_id":' || :listing_id || ',"registration_id":' || :rid
                || ',"seq":' || :seq || '}',
            '127.0.0.1', md5(random()::text), :prev_hash,
            encode(sha256(convert_to(:prev_hash::text || '|' || :stream_seq || '|' || :amount, 'UTF8')), 'hex'))
    RETURNING id, hash),
  h AS (
    INSERT INTO audit_heads (stream, seq, hash)
    SELECT 'listing:' || :listing_id, :stream_seq, hash FROM e
    ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash),
  n AS (
    INSERT INTO bench_log_nodes (level, idx, hash, event_id)
    SELECT l, :log_size::bigint >> l, sha256(convert_to(e.hash || l, 'UTF8')),
           CASE WHEN l = 0 THEN e.id END
      FROM e, generate_series(0, 62) AS l
     WHERE l = 0 OR (:log_size::bigint + 1) % (1::bigint << l) = 0),
  g AS (
    UPDATE bench_log_head
       SET size = :log_size::bigint + 1, frontier = decode(repeat(md5(:log_size::text), 16), 'hex')
     WHERE id = 1)
SELECT id FROM e;

COMMIT;
