#!/usr/bin/env python3
"""Crash drill: bidders hammer a live auction, the server is killed with SIGKILL at a random
moment, restarted, and the promises are checked:

- every bid a client got a 2xx for is in the history exactly once, with the same seq and amount;
- a request the client never got an answer for is in the history at most once: re-sent with the
  same Idempotency-Key it is either replayed (it had committed) or placed now, never twice;
- the bid history is gap-free and strictly rising, and the auction's state (price, leader,
  count) matches it; every bid has exactly one idempotency record;
- every audit chain and checkpoint verifies (`asset-exchange audit verify`).

Repeated for several cycles at random points, on SQLite and PostgreSQL.

Then a sealed one-time bid (一次报价) on each backend: every bidder submits its one sealed bid
while the server is killed, and killed once more around the opening. Before the opening each
acknowledged bid is there once (its bidder sees it, with its commitment; nobody sees another's
amount); after it, every bid is revealed once with the amount acknowledged and the highest
(then earliest) bid has won.

    scripts/drills/crash.py                      # both backends, 5 cycles each
    scripts/drills/crash.py --backend sqlite --cycles 2 --seed 1
"""

import argparse
import random
import sys
import threading
import time
import uuid
from decimal import Decimal

from common import Database, Exchange, Server, build, log, must, request, verify_trail

INCREMENT = Decimal("10000.00")


def fmt(d):
    return "%.2f" % d


class Load:
    """One thread per bidder placing bids until the server dies."""

    def __init__(self, server, ex, rng):
        self.server, self.ex, self.rng = server, ex, rng
        self.acked = {}  # key -> bid
        self.unacked = {}  # key -> (token, amount)
        self.refused = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def worker(self, token, seed):
        rng = random.Random(seed)
        url = "%s/api/v1/listings/%d" % (self.server.base, self.ex.listing_id)
        while not self.stop.is_set():
            key = "drill-" + uuid.uuid4().hex
            amount = None
            try:
                _, _, a = request("GET", url + "/auction", timeout=5)
                price = Decimal(a["current_price"]) if a.get("current_price") else None
                start = Decimal(a["start_price"])
                amount = start if price is None else price + INCREMENT * rng.randint(1, 3)
                status, _, body = request(
                    "POST", url + "/bids", {"amount": fmt(amount)}, token,
                    headers={"Idempotency-Key": key}, timeout=5,
                )
            except OSError:
                if amount is not None:
                    with self.lock:
                        self.unacked[key] = (token, amount)
                return
            with self.lock:
                if status == 201:
                    self.acked[key] = body
                elif status in (409, 422):
                    self.refused += 1
                else:
                    raise AssertionError("unexpected answer %s: %s" % (status, body))


def history(server, ex):
    status, _, bids = request(
        "GET", "%s/api/v1/listings/%d/bids" % (server.base, ex.listing_id), token=ex.operator
    )
    assert status == 200, bids
    return bids


def check(server, db, ex, acked):
    bids = history(server, ex)
    seqs = [b["seq"] for b in bids]
    assert seqs == list(range(1, len(bids) + 1)), "seq has gaps or repeats: %s" % seqs
    amounts = [Decimal(b["amount"]) for b in bids]
    assert all(x < y for x, y in zip(amounts, amounts[1:])), "amounts do not rise"
    by_id = {}
    for b in bids:
        assert b["id"] not in by_id, "bid %s twice" % b["id"]
        by_id[b["id"]] = b
    for key, bid in acked.items():
        found = by_id.get(bid["id"])
        assert found is not None, "acknowledged bid %s (%s) is missing" % (bid["id"], key)
        assert (found["seq"], found["amount"]) == (bid["seq"], bid["amount"]), (found, bid)
    _, _, auction = request("GET", "%s/api/v1/listings/%d/auction" % (server.base, ex.listing_id))
    assert auction["bid_count"] == len(bids), (auction, len(bids))
    if bids:
        assert auction["current_price"] == bids[-1]["amount"], (auction, bids[-1])
        assert auction["leading_bidder_code"] == bids[-1]["bidder_code"], (auction, bids[-1])
    lid = ex.listing_id
    n_bids = int(db.query("SELECT count(*) FROM bids WHERE listing_id = %d" % lid)[0][0])
    n_keys, n_distinct = map(int, db.query(
        "SELECT count(*), count(DISTINCT bid_id) FROM bid_requests WHERE listing_id = %d" % lid)[0])
    assert n_bids == len(bids) == n_keys == n_distinct, (n_bids, len(bids), n_keys, n_distinct)
    report = verify_trail(server)
    return len(bids), report["events_checked"]


def resolve(server, ex, unacked):
    """Re-sends each unanswered request with its key: (had committed, placed now, refused)."""
    committed = placed = refused = 0
    url = "%s/api/v1/listings/%d/bids" % (server.base, ex.listing_id)
    for key, (token, amount) in unacked.items():
        status, headers, body = request(
            "POST", url, {"amount": fmt(amount)}, token, headers={"Idempotency-Key": key}
        )
        replayed = {k.lower(): v for k, v in headers.items()}.get("idempotent-replayed") == "true"
        if status == 201 and replayed:
            assert Decimal(body["amount"]) == amount, (body, amount)
            committed += 1
        elif status == 201:
            placed += 1
        elif status in (409, 422):
            refused += 1
        else:
            raise AssertionError("re-sent bid answered %s: %s" % (status, body))
        # Once more: now it must be a replay or a refusal, never a second bid.
        status2, headers2, body2 = request(
            "POST", url, {"amount": fmt(amount)}, token, headers={"Idempotency-Key": key}
        )
        if status == 201:
            assert status2 == 201 and body2["id"] == body["id"], (body, body2)
    return committed, placed, refused


def drill(backend, cycles, rng):
    db = Database(backend)
    server = Server(db)
    results = []
    try:
        server.start()
        ex = Exchange(server, db, bidders=8)
        log(backend, "listing", ex.listing_id, "is bidding with", len(ex.bidders), "bidders")
        all_acked = {}
        for cycle in range(1, cycles + 1):
            load = Load(server, ex, rng)
            threads = [
                threading.Thread(target=load.worker, args=(t, rng.random()), daemon=True)
                for t in ex.bidders
            ]
            for t in threads:
                t.start()
            delay = rng.uniform(0.4, 2.5)
            time.sleep(delay)
            server.kill()
            load.stop.set()
            for t in threads:
                t.join(timeout=15)
            server.start()
            all_acked.update(load.acked)
            committed, placed, refused = resolve(server, ex, load.unacked)
            n_bids, events = check(server, db, ex, all_acked)
            results.append((cycle, delay, len(load.acked), len(load.unacked), committed, placed, refused, n_bids, events))
            log(
                "%s cycle %d: SIGKILL after %.2f s; %d acknowledged bids all found once; "
                "%d unanswered: %d had committed, %d placed on retry, %d refused; "
                "%d bids in history, audit trail valid (%d events)"
                % (backend, cycle, delay, len(load.acked), len(load.unacked), committed, placed,
                   refused, n_bids, events)
            )
        server.stop()
    except Exception:
        log("server log:", server.log_path)
        for line in server.error_lines():
            log("  " + line)
        raise
    finally:
        server.kill()
        db.drop()
    return results


SEALED_WINDOW = 40  # seconds of submission: set-up, a kill and a restart fit in it


class SealedLoad:
    """One thread per bidder submitting its single sealed bid; kept answers by bidder."""

    def __init__(self, server, ex, rng):
        self.server, self.ex = server, ex
        self.amounts = [Decimal("1000000.00") + INCREMENT * rng.randint(0, 6) for _ in ex.bidders]
        self.keys = ["sealed-" + uuid.uuid4().hex for _ in ex.bidders]
        self.acked = {}  # bidder index -> 201 body
        self.lock = threading.Lock()

    def submit(self, i):
        url = "%s/api/v1/listings/%d/bids" % (self.server.base, self.ex.listing_id)
        status, headers, body = request(
            "POST", url, {"amount": fmt(self.amounts[i])}, self.ex.bidders[i],
            headers={"Idempotency-Key": self.keys[i]}, timeout=5,
        )
        must_be = "the sealed bid of bidder %d" % i
        assert status == 201, "%s answered %s: %s" % (must_be, status, body)
        assert "commitment" in body and "amount" in body, body
        with self.lock:
            earlier = self.acked.get(i)
            if earlier is not None:
                # A re-send with the same key is the same bid, never a second one.
                assert body["id"] == earlier["id"], (earlier, body)
                assert {k.lower(): v for k, v in headers.items()}.get("idempotent-replayed") == "true"
            self.acked[i] = body

    def worker(self, i):
        try:
            self.submit(i)
        except OSError:
            pass  # the server died first: re-sent after the restart


def sealed_before_opening(server, db, ex, load):
    """Each bidder sees exactly its own bid; the operator and the public see no amount."""
    url = "%s/api/v1/listings/%d" % (server.base, ex.listing_id)
    for i, token in enumerate(ex.bidders):
        status, _, own = request("GET", url + "/bids", token=token)
        assert status == 200 and len(own) == 1, (i, own)
        bid = load.acked[i]
        assert (own[0]["id"], own[0]["amount"], own[0]["commitment"]) == (
            bid["id"], bid["amount"], bid["commitment"]), (own[0], bid)
    status, _, seen = request("GET", url + "/bids", token=ex.operator)
    assert status == 200 and seen == [], seen
    _, _, auction = request("GET", url + "/auction")
    assert auction["phase"] == "sealed", auction
    assert auction["bid_count"] == len(ex.bidders), auction
    assert auction.get("current_price") is None, auction
    n_sealed, n_keys = map(int, db.query(
        "SELECT count(*), count(DISTINCT idempotency_key) FROM sealed_bids WHERE listing_id = %d"
        % ex.listing_id)[0])
    assert n_sealed == n_keys == len(ex.bidders), (n_sealed, n_keys)
    return auction


def sealed_after_opening(server, ex, load):
    url = "%s/api/v1/listings/%d" % (server.base, ex.listing_id)
    deadline = time.time() + 60
    while True:
        _, _, listing = request("GET", url)
        if listing.get("status") == "awarded":
            break
        assert time.time() < deadline, "the sealed auction was not opened: %s" % listing
        time.sleep(0.3)
    status, _, bids = request("GET", url + "/bids")
    assert status == 200, bids
    assert [b["seq"] for b in bids] == list(range(1, len(ex.bidders) + 1)), bids
    # Revealed bids are new rows: each bidder's one bid is found by its code.
    by_code = {}
    for b in bids:
        assert b["bidder_code"] not in by_code, "two bids of %s" % b["bidder_code"]
        by_code[b["bidder_code"]] = b
    for i, ack in load.acked.items():
        found = by_code.get(ack["bidder_code"])
        assert found is not None and found["amount"] == ack["amount"], (ack, found)
    top = max(Decimal(b["amount"]) for b in bids)
    winner = min((b for b in bids if Decimal(b["amount"]) == top), key=lambda b: b["seq"])
    _, _, auction = request("GET", url + "/auction")
    assert auction["phase"] == "closed", auction
    assert Decimal(auction["current_price"]) == top, (auction, top)
    assert auction["leading_bidder_code"] == winner["bidder_code"], (auction, winner)
    status, _, deal = request("GET", url + "/deal", token=ex.operator)
    assert status == 200 and deal["winner_bidder_code"] == winner["bidder_code"], deal
    return top, winner["bidder_code"]


def sealed_drill(backend, rng):
    db = Database(backend)
    server = Server(db)
    try:
        server.start()
        ex = Exchange(server, db, bidders=12, free_seconds=SEALED_WINDOW, countdown=60,
                      method="sealed")
        opens_at = time.time() + SEALED_WINDOW - 0.3
        load = SealedLoad(server, ex, rng)
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
                   for i in range(len(ex.bidders))]
        for t in threads:
            t.start()
        delay = rng.uniform(0.005, 0.2)
        time.sleep(delay)
        server.kill()
        for t in threads:
            t.join(timeout=15)
        answered = len(load.acked)
        server.start()
        for i in range(len(ex.bidders)):
            load.submit(i)  # the unanswered ones now; the answered once more (a replay)
        sealed_before_opening(server, db, ex, load)
        # Killed once more around the opening: it happens once, whenever the server is back.
        time.sleep(max(0.0, opens_at - time.time()) + rng.uniform(0.0, 1.0))
        server.kill()
        server.start()
        top, code = sealed_after_opening(server, ex, load)
        report = verify_trail(server)
        log("%s sealed: SIGKILL %.2f s into the submissions (%d of %d answered), again at the "
            "opening; every bid there once, sealed until the opening, then revealed as "
            "acknowledged; %s won at %s; audit trail valid (%d events)"
            % (backend, delay, answered, len(ex.bidders), code, top, report["events_checked"]))
        server.stop()
    except Exception:
        log("server log:", server.log_path)
        for line in server.error_lines():
            log("  " + line)
        raise
    finally:
        server.kill()
        db.drop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    log("crash drill, seed", seed)
    rng = random.Random(seed)
    build()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    total_acked = 0
    for backend in backends:
        for r in drill(backend, args.cycles, rng):
            total_acked += r[2]
        sealed_drill(backend, rng)
    log("crash drill passed: %d acknowledged bids over %d kills, every one found exactly once"
        % (total_acked, args.cycles * len(backends)))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("CRASH DRILL FAILED:", e)
        sys.exit(1)
