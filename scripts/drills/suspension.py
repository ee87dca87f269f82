#!/usr/bin/env python3
"""Suspension drill: bidders hammer a live auction while an operator suspends and resumes the
listing several times (as the exchange does after a system failure), then the auction runs out.
Checked afterwards, from the bid history and the audit trail:

- no bid was accepted while the listing was suspended: every bid's `placed_at` lies outside
  every pause (from the suspension's instant to the resumption's);
- no bid was accepted at or after the end in force when it was placed (the end moves with
  each countdown bid and with each resumption, which leaves at least one full countdown);
- bids refused during a pause were refused `auction_not_open`; no request got a 5xx;
- every acknowledged bid is in the history once, seq is gap-free, amounts rise, `placed_at`
  rises with seq; the auction closed (awarded) by itself; the audit trail verifies.

    scripts/drills/suspension.py                     # SQLite and PostgreSQL
    scripts/drills/suspension.py --backend sqlite --pauses 5 --seed 3
"""

import argparse
import json
import random
import sys
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal

from common import Database, Exchange, Server, build, log, must, request, verify_trail

INCREMENT = Decimal("10000.00")
COUNTDOWN = 3


def fmt(d):
    return "%.2f" % d


def instant(text):
    """An RFC 3339 instant of the audit trail (microseconds, Z) as a comparable value."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


class Load:
    """One thread per bidder, bidding until told to stop; records every answer."""

    def __init__(self, server, ex):
        self.server, self.ex = server, ex
        self.acked = {}
        self.refusals = {}
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def worker(self, token, seed):
        rng = random.Random(seed)
        url = "%s/api/v1/listings/%d" % (self.server.base, self.ex.listing_id)
        while not self.stop.is_set():
            _, _, a = request("GET", url + "/auction", timeout=10)
            if a.get("phase") == "closed":
                return
            price = Decimal(a["current_price"]) if a.get("current_price") else None
            amount = Decimal(a["start_price"]) if price is None else price + INCREMENT * rng.randint(1, 2)
            key = "susp-" + uuid.uuid4().hex
            status, _, body = request(
                "POST", url + "/bids", {"amount": fmt(amount)}, token,
                headers={"Idempotency-Key": key}, timeout=10,
            )
            with self.lock:
                if status == 201:
                    self.acked[key] = body
                elif status in (403, 409, 422):
                    code = body.get("code") if isinstance(body, dict) else str(body)
                    self.refusals[code] = self.refusals.get(code, 0) + 1
                else:
                    self.errors.append((status, body))
            time.sleep(rng.uniform(0.02, 0.15))


def operator(server, ex, pauses, rng, log_pauses):
    """Suspends and resumes `pauses` times at random moments while bidding goes on."""
    base = "%s/api/v1/listings/%d" % (server.base, ex.listing_id)
    for i in range(pauses):
        time.sleep(rng.uniform(0.5, 1.5))
        result = request("POST", base + "/suspend", {"reason": "演练：系统故障，暂停竞价 %d" % i}, ex.operator)
        if result[0] == 409 and result[2].get("code") in ("auction_closed", "invalid_state"):
            log_pauses.append("auction already over before pause %d" % (i + 1))
            return
        must(200, result, "suspend")
        time.sleep(rng.uniform(0.3, 1.5))
        must(200, request("POST", base + "/resume", {"reason": "演练：故障排除，恢复竞价"}, ex.operator), "resume")
        log_pauses.append("pause %d done" % (i + 1))


def trail(db, listing_id):
    """The listing's audit events in order: (action, payload)."""
    rows = db.query(
        "SELECT action, payload FROM audit_events WHERE stream = 'listing:%d' ORDER BY stream_seq"
        % listing_id
    )
    return [(r[0], json.loads("|".join(r[1:]))) for r in rows]


def check_trail(events):
    """Replays the trail: no bid while paused, none at or after the end in force."""
    end, paused_since, bids, pauses = None, None, 0, 0
    for action, p in events:
        if action == "auction.scheduled":
            end = instant(p["ends_at"])
        elif action == "listing.suspended" and p.get("from") in ("bidding", "auction_scheduled"):
            paused_since = instant(p["suspended_at"])
        elif action == "auction.resumed":
            assert paused_since is not None, "resumed without a pause"
            resumed = instant(p["resumed_at"])
            assert instant(p["ends_at"]) >= resumed, p
            paused_since, end = None, instant(p["ends_at"])
            pauses += 1
        elif action == "bid.placed":
            at = instant(p["placed_at"])
            assert paused_since is None, "bid %s placed at %s while paused since %s" % (p["seq"], at, paused_since)
            assert end is not None and at < end, "bid %s placed at %s, at or after the end %s" % (p["seq"], at, end)
            end = instant(p["ends_at"])
            bids += 1
        elif action == "auction.closed":
            assert paused_since is None, "closed while paused"
    return bids, pauses


def check_history(server, ex, acked):
    _, _, bids = request("GET", "%s/api/v1/listings/%d/bids" % (server.base, ex.listing_id), token=ex.operator)
    assert [b["seq"] for b in bids] == list(range(1, len(bids) + 1)), "seq has gaps"
    amounts = [Decimal(b["amount"]) for b in bids]
    assert all(x < y for x, y in zip(amounts, amounts[1:])), "amounts do not rise"
    times = [b["placed_at"] for b in bids]
    assert all(x < y for x, y in zip(times, times[1:])), "placed_at does not rise with seq"
    ids = {b["id"]: b for b in bids}
    for bid in acked.values():
        assert bid["id"] in ids and ids[bid["id"]]["amount"] == bid["amount"], bid
    return len(bids)


def drill(backend, pauses, rng):
    db = Database(backend)
    server = Server(db)
    try:
        server.start()
        ex = Exchange(server, db, bidders=6, free_seconds=2, countdown=COUNTDOWN)
        log(backend, "listing", ex.listing_id, "is bidding with", len(ex.bidders), "bidders")
        load = Load(server, ex)
        threads = [threading.Thread(target=load.worker, args=(t, rng.random()), daemon=True) for t in ex.bidders]
        for t in threads:
            t.start()
        done = []
        operator(server, ex, pauses, rng, done)
        # Bidding goes on a little after the last resumption, then the countdown runs out.
        time.sleep(1.0)
        load.stop.set()
        for t in threads:
            t.join(timeout=15)
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            _, _, listing = request("GET", "%s/api/v1/listings/%d" % (server.base, ex.listing_id))
            status = listing["status"]
            if status in ("awarded", "failed"):
                break
            time.sleep(0.2)
        assert status == "awarded", "the auction did not close by itself: %s" % status
        assert not load.errors, "unexpected answers: %s" % load.errors[:5]
        n = check_history(server, ex, load.acked)
        bids, resumed = check_trail(trail(db, ex.listing_id))
        assert bids == n, (bids, n)
        assert resumed == len([d for d in done if d.startswith("pause")]), (resumed, done)
        report = verify_trail(server)
        log(
            "%s: %d pauses under load; %d bids accepted (%d acknowledged), none while paused or "
            "after its end; refusals %s; trail valid (%d events)"
            % (backend, resumed, n, len(load.acked), load.refusals, report["events_checked"])
        )
        assert load.refusals.get("auction_not_open", 0) > 0 or resumed == 0, (
            "no bid met a pause: the drill did not test what it should"
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--pauses", type=int, default=3)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    log("suspension drill, seed", seed)
    rng = random.Random(seed)
    build()
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        drill(backend, args.pauses, rng)
    log("suspension drill passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("SUSPENSION DRILL FAILED:", e)
        sys.exit(1)
