#!/usr/bin/env python3
"""Scale-out drill: three app instances on one fresh PostgreSQL database behind a private
nginx, with the same promises as one instance:

- bids go through nginx AND directly to each instance, concurrently; every bid a client got
  a 2xx for is in the history exactly once, seq is gap-free, amounts rise, the auction's
  state matches the history, every bid has one idempotency record; a request that got no
  answer (or a 502/503) is re-sent with its Idempotency-Key and lands at most once;
- an SSE subscriber on EVERY instance (and one through nginx) receives every bid event in
  seq order, no gap, no duplicate, whichever instance accepted the bid, and the end of the
  auction; the time from a bid's 201 to its arrival is reported per subscriber, split into
  bids accepted by the subscriber's own instance and by another one (LISTEN/NOTIFY);
- the scheduler runs on all three: the auction starts once, its countdown ends once (one
  `auction.closed` audit event, one deal, each deposit settled once), disclosure is decided
  once, no risk alert is raised twice;
- the mail worker runs on all three (file transport, one folder per instance): every queued
  message is sent exactly once (`.eml` files matched to the outbox by Message-ID);
- the three instances start at the same moment on the empty database and all come up (the
  migrations run once, under a lock);
- nginx passes the client's address and a client cannot forge it (X-Forwarded-For and
  Forwarded sent by the client are ignored); bids record the proxy-reported address;
- audit checkpoints are signed by all three every second; the trail verifies
  (`asset-exchange audit verify`).

The full run also restarts the instances one by one with SIGTERM (a rolling restart) while
the load runs: the subscriber of the restarting instance reconnects with Last-Event-ID, and
the checks above must still hold.

    scripts/drills/scaleout.py                  # the full drill (about 3 minutes)
    scripts/drills/scaleout.py --quick          # CI: no rolling restart, shorter load
    scripts/drills/scaleout.py --migration-race # only: three instances started at once on
                                                # an empty database all come up (the drill
                                                # itself starts that way too)
    scripts/drills/scaleout.py --measure        # throughput: nginx -> 1 vs 3 instances
                                                # (release build, wrk), see docs/production.md

Needs PostgreSQL (DRILL_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres),
nginx (apt-get install -y nginx) and, for --measure, wrk (apt-get install -y wrk).
"""

import argparse
import glob
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import common
from common import (
    PASSWORD, Database, EventStream, Exchange, Nginx, Server, build, find_nginx, iso, log,
    must, request, verify_trail,
)
from crash import INCREMENT, check, fmt, resolve

INSTANCES = 3
# Sent by clients through nginx; must never be recorded as anybody's address.
SPOOFED_XFF = "203.0.113.66"
SPOOFED_FORWARDED = "198.51.100.77"


# ----- the fleet: one database, three instances, nginx --------------------------------------


class Gateway:
    """What Exchange and the crash checks need of a `server`: the load balancer's base URL
    for HTTP, and the command line of one instance."""

    def __init__(self, base, server):
        self.base, self._server = base, server

    def cli(self, *args, env=None):
        return self._server.cli(*args, env=env)


class Fleet:
    def __init__(self, db, n=INSTANCES, extra_env=None, nginx_workers=1, access_log=True):
        self.db = db
        self.mail_dirs = []
        self.servers = []
        for i in range(n):
            mail_dir = os.path.join(db.dir, "mail-app%d" % (i + 1))
            self.mail_dirs.append(mail_dir)
            env = {
                "APP__SERVER__TRUST_FORWARDED_FOR": "true",
                "APP__MAIL__TRANSPORT": "file",
                "APP__MAIL__FILE_DIR": mail_dir,
            }
            env.update(extra_env or {})
            self.servers.append(Server(db, extra_env=env, log_path=os.path.join(db.dir, "app%d.log" % (i + 1))))
        self.nginx = Nginx([s.base for s in self.servers], workers=nginx_workers, access_log=access_log)
        for s in self.servers:
            s.env["APP__SERVER__PUBLIC_BASE_URL"] = self.nginx.base
        self.gateway = Gateway(self.nginx.base, self.servers[0])
        self.by_port = {s.port: "app%d" % (i + 1) for i, s in enumerate(self.servers)}

    def migrate(self):
        r = self.servers[0].cli("migrate")
        if r.returncode != 0:
            raise RuntimeError("asset-exchange migrate failed: %s %s" % (r.stdout, r.stderr))

    def start(self, which=None):
        """Starts the given instances (default all) at the same time."""
        servers = self.servers if which is None else [self.servers[i] for i in which]
        errors = []

        def go(s):
            try:
                s.start()
            except Exception as e:  # reported below
                errors.append("%s: %s" % (s.base, e))

        threads = [threading.Thread(target=go, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("instances failed to start: %s" % "; ".join(errors))

    def instance_of(self, headers):
        """Which instance answered a request through nginx (from its X-Upstream header)."""
        up = {k.lower(): v for k, v in headers.items()}.get("x-upstream", "")
        last = up.split(",")[-1].strip()
        try:
            return self.by_port.get(int(last.rsplit(":", 1)[1]), "?")
        except (IndexError, ValueError):
            return "?"

    def logs(self):
        return [s.log_path for s in self.servers] + [os.path.join(self.nginx.dir, "error.log")]

    def shutdown(self):
        for s in self.servers:
            s.kill()
        self.nginx.destroy()


def terminate(server, timeout=45):
    """SIGTERM and wait: seconds until the process exited (graceful shutdown)."""
    t0 = time.time()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError("%s did not stop within %d s of SIGTERM" % (server.base, timeout))
    return time.time() - t0


# ----- bid load through nginx and directly to each instance -------------------------------


class BidLoad:
    """One thread per bidder. Each round picks the next target (nginx, app1, app2, app3 in
    turn), reads the auction and bids one to three increments above it with a fresh
    Idempotency-Key. Connection failures and 502/503/504 are retried with the SAME key on
    the next target, as a client should; what never got an answer is kept for `resolve`."""

    RETRYABLE = (502, 503, 504)

    def __init__(self, fleet, ex, seed):
        self.fleet, self.ex = fleet, ex
        self.targets = [("lb", fleet.nginx.base)] + [
            ("app%d" % (i + 1), s.base) for i, s in enumerate(fleet.servers)
        ]
        self.seed = seed
        self.acked = {}  # key -> {"bid", "via", "by", "t", "replayed"}
        self.unacked = {}  # key -> (token, amount)
        self.refused = {}  # problem code -> count
        self.retried = {}  # what -> count (connection errors, 502/503/504)
        self.unexpected = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []

    def start(self):
        for i, token in enumerate(self.ex.bidders):
            t = threading.Thread(target=self.worker, args=(i, token), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _headers(self, name, extra=None):
        h = dict(extra or {})
        if name == "lb":
            h.update({"X-Forwarded-For": SPOOFED_XFF, "Forwarded": "for=%s" % SPOOFED_FORWARDED})
        return h

    def _note(self, what):
        with self.lock:
            self.retried[what] = self.retried.get(what, 0) + 1

    def worker(self, i, token):
        rng = random.Random(self.seed * 1000 + i)
        turn = i
        lid = self.ex.listing_id
        while not self.stop.is_set():
            name, base = self.targets[turn % len(self.targets)]
            turn += 1
            try:
                st, _, a = request("GET", "%s/api/v1/listings/%d/auction" % (base, lid),
                                   headers=self._headers(name), timeout=10)
            except OSError:
                self._note("GET connection error via %s" % name)
                time.sleep(0.05)
                continue
            if st != 200:
                self._note("GET %s via %s" % (st, name))
                time.sleep(0.05)
                continue
            if a.get("phase") == "closed":
                time.sleep(0.05)
                continue
            price = Decimal(a["current_price"]) if a.get("current_price") else None
            amount = Decimal(a["start_price"]) if price is None else price + INCREMENT * rng.randint(1, 3)
            self.bid(token, amount, turn)
            time.sleep(rng.uniform(0, 0.01))

    def bid(self, token, amount, turn):
        key = "scaleout-" + uuid.uuid4().hex
        lid = self.ex.listing_id
        for attempt in range(2 * len(self.targets)):
            name, base = self.targets[(turn + attempt) % len(self.targets)]
            try:
                st, headers, body = request(
                    "POST", "%s/api/v1/listings/%d/bids" % (base, lid), {"amount": fmt(amount)}, token,
                    headers=self._headers(name, {"Idempotency-Key": key}), timeout=10,
                )
            except OSError:
                self._note("POST connection error via %s" % name)
                time.sleep(0.1)
                continue
            if st in self.RETRYABLE:
                self._note("POST %d via %s" % (st, name))
                time.sleep(0.1)
                continue
            with self.lock:
                if st == 201:
                    by = self.fleet.instance_of(headers) if name == "lb" else name
                    replayed = {k.lower(): v for k, v in headers.items()}.get("idempotent-replayed") == "true"
                    self.acked[key] = {"bid": body, "via": name, "by": by, "t": time.time(),
                                       "replayed": replayed}
                elif st in (409, 422):
                    code = body.get("code", "?") if isinstance(body, dict) else "?"
                    self.refused[code] = self.refused.get(code, 0) + 1
                else:
                    self.unexpected.append((name, st, body))
            return
        with self.lock:
            self.unacked[key] = (token, amount)


class CheckpointBursts:
    """While the load runs: again and again, `asset-exchange audit checkpoint` from every
    instance's environment at the same moment (besides each instance's own checkpoint job),
    so that several signers queue for the checkpoint lock together."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.rounds = self.signed = 0
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            env = dict(APP__DATABASE__POOL_SIZE="2")
            procs = []
            for s in self.fleet.servers:
                e = dict(s.env)
                e.update(env)
                procs.append(subprocess.Popen([common.BINARY, "audit", "checkpoint"], cwd=s.db.dir, env=e,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for p in procs:
                out, err = p.communicate(timeout=60)
                if p.returncode == 0:
                    self.signed += 1
                else:
                    self.failures.append(err.strip().splitlines()[:1])
            self.rounds += 1
            self.stop.wait(0.2)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=90)


# ----- checks ---------------------------------------------------------------------------------


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def check_streams(subs, history, acked):
    """Every subscriber got every bid once, in seq order, with the history's amounts, and the
    auction's end; returns lines for the summary."""
    n = len(history)
    amounts = {b["seq"]: b["amount"] for b in history}
    ack = {}
    for a in acked.values():
        seq = a["bid"]["seq"]
        if seq not in ack or a["t"] < ack[seq][0]:
            ack[seq] = (a["t"], a["by"])
    lines = []
    for sub in subs:
        got = sub.bids()
        seqs = [s for _, s, _ in got]
        assert len(seqs) == len(set(seqs)), "%s: duplicate bid events: %s" % (
            sub.name, sorted(s for s in set(seqs) if seqs.count(s) > 1)[:10])
        assert seqs == list(range(1, n + 1)), "%s: bid events out of order or missing: got %d of %d, first wrong at %s" % (
            sub.name, len(seqs), n, next((i + 1 for i, s in enumerate(seqs) if s != i + 1), len(seqs) + 1))
        for _, seq, data in got:
            assert data["amount"] == amounts[seq], (sub.name, seq, data, amounts[seq])
        kinds = [e[2] for e in sub.events]
        closed = [e for e in sub.events if e[2] == "closed"]
        assert closed, "%s: no `closed` event" % sub.name
        assert kinds[-1] == "closed" and closed[-1][3]["status"] == "awarded", (sub.name, sub.events[-1])
        after_close = kinds.index("closed")
        assert "bid" not in kinds[after_close:], "%s: a bid event after `closed`" % sub.name
        own = sub.name
        same = [(t - ack[s][0]) * 1000 for t, s, _ in got if s in ack and ack[s][1] == own]
        other = [(t - ack[s][0]) * 1000 for t, s, _ in got if s in ack and ack[s][1] != own]
        lines.append(
            "  %-5s %d bid events 1..%d in order, none twice; %d `closed` (last: awarded); %d connection%s; "
            "201 -> event p50/p99/max: own instance %s, other instances %s ms"
            % (sub.name, len(seqs), n, len(closed), sub.connects, "" if sub.connects == 1 else "s",
               "%.0f/%.0f/%.0f" % (pct(same, 50), pct(same, 99), max(same)) if same else "-",
               "%.0f/%.0f/%.0f" % (pct(other, 50), pct(other, 99), max(other)) if other else "-"))
    return lines


def check_close(db, ex, history):
    """The auction ended once: one close, one deal, each deposit settled once."""
    lid = ex.listing_id
    stream = "listing:%d" % lid

    def count(action):
        return int(db.query("SELECT count(*) FROM audit_events WHERE stream = '%s' AND action = '%s'"
                            % (stream, action))[0][0])

    status = db.query("SELECT status FROM listings WHERE id = %d" % lid)[0][0]
    assert status == "awarded", "listing %d is %s, not awarded" % (lid, status)
    once = {a: count(a) for a in ("listing.disclosure_ended", "auction.started", "auction.closed", "deal.awarded")}
    assert all(v == 1 for v in once.values()), "timed transitions not exactly once: %s" % once
    deals = db.query("SELECT price, bidder_code FROM deals WHERE listing_id = %d" % lid)
    assert len(deals) == 1, "deals: %s" % deals
    last = history[-1]
    assert Decimal(deals[0][0]) / 100 == Decimal(last["amount"]) and deals[0][1] == last["bidder_code"], (deals, last)
    regs = db.query("SELECT id, deposit_status, bidder_code FROM registrations WHERE listing_id = %d" % lid)
    settled = db.query(
        "SELECT payload::jsonb->>'registration_id', action FROM audit_events WHERE stream = '%s' "
        "AND action IN ('deposit.converted', 'deposit.refunded', 'deposit.forfeited')" % stream)
    per_reg = {}
    for reg_id, action in settled:
        per_reg.setdefault(reg_id, []).append(action)
    for reg_id, dep, code in regs:
        # The winner's deposit stays paid (held) until the contract decides it; the others are
        # refunded at the close, once each.
        if code == last["bidder_code"]:
            assert dep == "paid", "registration %s (winner): deposit %s, expected paid (held)" % (reg_id, dep)
            assert per_reg.get(reg_id) is None, "winner's deposit settled at the close: %s" % per_reg.get(reg_id)
            continue
        assert dep == "refunded", "registration %s: deposit %s, expected refunded" % (reg_id, dep)
        assert per_reg.get(reg_id) == ["deposit.refunded"], "registration %s settled %s" % (reg_id, per_reg.get(reg_id))
    dup_alerts = db.query("SELECT rule, subject, count(*) FROM alerts GROUP BY rule, subject HAVING count(*) > 1")
    assert not dup_alerts, "risk alerts raised twice: %s" % dup_alerts
    alerts = int(db.query("SELECT count(*) FROM alerts")[0][0])
    return ("listing decided once, auction started once and closed once (1 `auction.closed`), 1 deal at %s "
            "to %s, %d deposits settled once each (winner's held, %d refunded), %d risk alerts, none twice"
            % (last["amount"], last["bidder_code"], len(regs), len(regs) - 1, alerts))


def check_checkpoints(db, bursts):
    """Checkpoint ids and times rise together: each checkpoint extends the one before."""
    rows = db.query("SELECT id, created_at, events FROM audit_checkpoints ORDER BY id")
    for a, b in zip(rows, rows[1:]):
        assert b[1] >= a[1], (
            "checkpoint %s is dated %s, earlier than checkpoint %s (%s): two signers raced for the "
            "checkpoint lock and the later one kept the time it read before waiting "
            "(src/store/audit.rs create_checkpoint; `audit verify` reports it as out_of_order)"
            % (b[0], b[1], a[0], a[1]))
    assert not bursts.failures, "`audit checkpoint` failed: %s" % bursts.failures[:3]
    return len(rows)


def eml_message_ids(folder):
    ids = []
    for path in glob.glob(os.path.join(folder, "*.eml")):
        with open(path, "rb") as f:
            head = f.read().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
        unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ").replace("\n ", " ").replace("\n\t", " ")
        mid = [l.split(":", 1)[1].strip() for l in unfolded.splitlines() if l.lower().startswith("message-id:")]
        assert len(mid) == 1, "%s has %d Message-ID headers" % (path, len(mid))
        ids.append(mid[0])
    return ids


def check_mail(fleet, db, timeout):
    """Every queued message sent exactly once by one of the three workers."""
    deadline = time.time() + timeout
    while True:
        pending = int(db.query("SELECT count(*) FROM notifications WHERE status <> 'sent'")[0][0])
        if pending == 0 or time.time() > deadline:
            break
        time.sleep(0.3)
    rows = db.query("SELECT message_id, status, attempts FROM notifications")
    not_sent = [r for r in rows if r[1] != "sent"]
    assert not not_sent, "%d of %d messages not sent after %d s: %s" % (len(not_sent), len(rows), timeout, not_sent[:5])
    time.sleep(1.0)  # nothing more may arrive
    per_instance = [eml_message_ids(d) for d in fleet.mail_dirs]
    files = [m for ids in per_instance for m in ids]
    dups = sorted({m for m in files if files.count(m) > 1})
    assert not dups, "%d messages written twice, e.g. %s" % (len(dups), dups[:3])
    want = sorted(r[0] for r in rows)
    assert sorted(files) == want, "files %d vs outbox %d; missing %s; unknown %s" % (
        len(files), len(want), sorted(set(want) - set(files))[:3], sorted(set(files) - set(want))[:3])
    reclaimed = sum(1 for r in rows if int(r[2]) > 1)
    return ("%d messages queued, %d sent, each exactly once (by Message-ID); written by app1/app2/app3: %s; "
            "%d claimed more than once (a lease ran out) but still sent once"
            % (len(rows), len(files), "/".join(str(len(i)) for i in per_instance), reclaimed))


def check_forwarded(fleet, db):
    """A client's own X-Forwarded-For / Forwarded are ignored; the address nginx saw is used."""
    source = "127.0.0.3"  # any loopback address: nginx sees it, the app sees nginx at 127.0.0.1
    email = "xff-%s@drill.example" % uuid.uuid4().hex[:6]
    rng = random.Random(11)
    must(201, request("POST", fleet.nginx.base + "/api/v1/auth/register", {
        "email": email, "password": PASSWORD, "name": "转发演练", "role": "bidder",
        "organization_name": "转发演练有限公司", "credit_code": common.credit_code(rng),
    }), "register")
    rid = "scaleout-xff-" + uuid.uuid4().hex[:12]
    conn = http.client.HTTPConnection("127.0.0.1", fleet.nginx.port, timeout=10, source_address=(source, 0))
    conn.request("POST", "/api/v1/auth/login", json.dumps({"email": email, "password": PASSWORD}), {
        "Content-Type": "application/json", "X-Request-Id": rid,
        "X-Forwarded-For": SPOOFED_XFF, "Forwarded": "for=%s" % SPOOFED_FORWARDED,
    })
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200, "login through nginx: %s" % resp.status
    ips = db.query("SELECT client_ip FROM audit_events WHERE request_id = '%s'" % rid)
    assert ips == [[source]], "login recorded client_ip %s, expected %s (nginx's $remote_addr)" % (ips, source)
    spoofed = db.query("SELECT count(*) FROM bids WHERE client_ip IN ('%s', '%s')" % (SPOOFED_XFF, SPOOFED_FORWARDED))
    assert spoofed == [["0"]], "bids recorded a client-chosen address: %s" % spoofed
    return ("client address: a login from %s through nginx with forged X-Forwarded-For/Forwarded was recorded as "
            "%s; no bid recorded a forged address" % (source, source))


# ----- the drill -----------------------------------------------------------------------------


def drill(quick, seed, checkpoint_seconds):
    bidders = 6 if quick else 10
    load_seconds = 5 if quick else 12
    countdown = 4 if quick else 8
    db = Database("postgres")
    fleet = Fleet(db, extra_env={
        # Three signers racing: every second by default (production: 60 s, same code path).
        "APP__AUDIT__CHECKPOINT_INTERVAL_SECONDS": str(checkpoint_seconds),
        # A graceful shutdown leaves a claimed, unsent batch to its lease (see the report);
        # keep that wait short so the rolling restart does not hold mail for 5 minutes.
        "APP__MAIL__LEASE_SECONDS": "10",
    })
    subs = []
    summary = []
    t_start = time.time()
    try:
        start_on_empty(fleet)
        fleet.nginx.start()
        log("three instances (%s) started together on the empty database %s, behind nginx %s" % (
            ", ".join(s.base for s in fleet.servers), db.name, fleet.nginx.base))
        ex = Exchange(fleet.gateway, db, bidders=bidders, free_seconds=2, countdown=countdown)
        lid = ex.listing_id
        path = "/api/v1/listings/%d/auction/events" % lid
        subs = [EventStream(s.base, path, "app%d" % (i + 1)) for i, s in enumerate(fleet.servers)]
        subs.append(EventStream(fleet.nginx.base, path, "lb"))
        for s in subs:
            s.start()
        for s in subs:
            assert s.connected.wait(10), "%s: SSE subscriber could not connect: %s" % (s.name, s.failures)
        log("listing %d is bidding (%d bidders, countdown %d s); %d SSE subscribers connected"
            % (lid, bidders, countdown, len(subs)))
        load = BidLoad(fleet, ex, seed)
        load.start()
        bursts = CheckpointBursts(fleet)
        bursts.start()
        restarts = []
        if quick:
            time.sleep(load_seconds)
        else:
            time.sleep(load_seconds / 2)
            for i, s in enumerate(fleet.servers):
                took = terminate(s)
                s.start()
                restarts.append(took)
                log("rolling restart: app%d stopped %.1f s after SIGTERM and is back" % (i + 1, took))
                time.sleep(1.5)
            time.sleep(load_seconds / 2)
        load.finish()
        bursts.finish()
        assert not load.unexpected, "unexpected answers: %s" % load.unexpected[:5]
        acked_n = len(load.acked)
        log("load stopped: %d bids acknowledged, %d refused %s, retried %s, %d unanswered"
            % (acked_n, sum(load.refused.values()), load.refused, load.retried or "{}", len(load.unacked)))
        # The countdown runs out by itself now; the scheduler of one instance closes it.
        deadline = time.time() + countdown + 15
        while time.time() < deadline:
            st, _, a = request("GET", "%s/api/v1/listings/%d/auction" % (fleet.nginx.base, lid))
            if st == 200 and a["status"] == "awarded":
                break
            time.sleep(0.2)
        committed, placed, refused = resolve(fleet.gateway, ex, load.unacked)
        for s in subs:
            assert s.finished.wait(15), "%s: stream did not end after the close (events: %d, failures: %s)" % (
                s.name, len(s.events), s.failures[-3:])
        checkpoints = check_checkpoints(db, bursts)  # before check(), which verifies the trail
        n_bids, events = check(fleet.gateway, db, ex, {k: v["bid"] for k, v in load.acked.items()})
        _, _, history = request("GET", "%s/api/v1/listings/%d/bids" % (fleet.nginx.base, lid), token=ex.operator)
        by = {}
        for a in load.acked.values():
            key = "%s->%s" % (a["via"], a["by"])
            by[key] = by.get(key, 0) + 1
        summary.append("bids: %d acknowledged (%s), all in the history once with their seq and amount; "
                       "%d in the history, seq 1..%d gap-free, amounts rising, auction state matches; "
                       "%d unanswered re-sent with their key: %d had committed, %d placed, %d refused"
                       % (acked_n, ", ".join("%s %d" % kv for kv in sorted(by.items())), n_bids, n_bids,
                          len(load.unacked), committed, placed, refused))
        summary.append("live events (SSE), one subscriber per instance and one through nginx:")
        summary.extend(check_streams(subs, history, load.acked))
        summary.append(check_close(db, ex, history))
        summary.append(check_mail(fleet, db, timeout=30))
        summary.append(check_forwarded(fleet, db))
        if restarts:
            reconnects = sum(s.connects - 1 for s in subs)
            via_lb = sum(n for what, n in load.retried.items() if what.endswith("via lb"))
            direct = sum(load.retried.values()) - via_lb
            summary.append("rolling restart: each instance stopped by SIGTERM in %s s and restarted under load; "
                           "%d SSE reconnects with Last-Event-ID; requests that failed through nginx: %d; "
                           "requests sent directly to a stopped instance and re-sent elsewhere: %d"
                           % ("/".join("%.1f" % r for r in restarts), reconnects, via_lb, direct))
        report = verify_trail(fleet.servers[0])
        summary.append("audit trail valid: %d events in %d streams; %d checkpoints in order, signed by the "
                       "three instances' jobs (every second) and %d rounds of three `audit checkpoint` at once"
                       % (report["events_checked"], report["streams_checked"], checkpoints, bursts.rounds))
        for s in fleet.servers:
            s.stop()
    except Exception:
        log("logs:", " ".join(fleet.logs()))
        raise
    finally:
        for s in subs:
            s.stop()
        fleet.shutdown()
        db.drop()
    log("scale-out drill (%s) passed in %.0f s:" % ("quick" if quick else "full", time.time() - t_start))
    for line in summary:
        print("  " + line if not line.startswith("  ") else line, flush=True)


def start_on_empty(fleet):
    """Starts all instances at the same moment on the still EMPTY database: each applies the
    migrations at start-up, and they must queue (an advisory lock in `Db::migrate_blocking`,
    src/store/mod.rs) instead of racing to create the same tables."""
    try:
        fleet.start()
    except RuntimeError as e:
        for path in fleet.logs()[:-1]:
            with open(path, errors="replace") as f:
                first = next((l.strip() for l in f if l.startswith("Error")), None)
            if first:
                log(os.path.basename(path) + ":", first)
        raise AssertionError("instances started at once on an empty database do not all come up (%s)" % e)


def migration_race():
    db = Database("postgres")
    fleet = Fleet(db)
    try:
        start_on_empty(fleet)
        log("migration race: all three instances came up on an empty database")
    finally:
        fleet.shutdown()
        db.drop()


# ----- throughput: nginx -> 1 vs 3 instances ---------------------------------------------------

BIDS_LUA = r"""
-- Each wrk thread has ONE connection and its own listings; it bids on them in turn,
-- alternating the two bidders of each listing, one increment above its last bid, so every
-- bid should be accepted. Counters are per thread; done() adds them up.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local n = tonumber(os.getenv("AX_WRK_THREADS"))
  nonce = os.getenv("AX_WRK_NONCE")
  listings = {}
  local i = 0
  for line in io.lines(os.getenv("AX_WRK_DATA")) do
    if i % n == id then
      local lid, amount, inc, t1, t2 = line:match("^(%d+) (%d+) (%d+) (%S+) (%S+)$")
      table.insert(listings, {path = "/api/v1/listings/" .. lid .. "/bids", amount = tonumber(amount),
                              inc = tonumber(inc), tokens = {t1, t2}, turn = 1})
    end
    i = i + 1
  end
  cur, n_req, accepted, refused, other = 0, 0, 0, 0, 0
end
function request()
  cur = cur % #listings + 1
  local l = listings[cur]
  n_req = n_req + 1
  local body = string.format('{"amount":"%d.%02d"}', math.floor(l.amount / 100), l.amount % 100)
  return wrk.format("POST", l.path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. l.tokens[l.turn],
    ["Idempotency-Key"] = string.format("wrk-%s-%d-%d", nonce, id, n_req)}, body)
end
function response(status, headers, body)
  local l = listings[cur]
  if status == 201 then accepted = accepted + 1
  elseif status == 409 or status == 422 then refused = refused + 1
  else other = other + 1 end
  l.amount = l.amount + l.inc
  l.turn = 3 - l.turn
end
""" + "%DONE%"

READ_LUA = r"""
-- GET a listing, then its auction, over all listings in turn.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  ids = {}
  for line in io.lines(os.getenv("AX_WRK_DATA")) do table.insert(ids, line:match("^(%d+)")) end
  cur, accepted, refused, other = id, 0, 0, 0
end
function request()
  cur = cur + 1
  local lid = ids[math.floor(cur / 2) % #ids + 1]
  if cur % 2 == 0 then return wrk.format("GET", "/api/v1/listings/" .. lid) end
  return wrk.format("GET", "/api/v1/listings/" .. lid .. "/auction")
end
function response(status, headers, body)
  if status == 200 then accepted = accepted + 1 else other = other + 1 end
end
""" + "%DONE%"

DONE_LUA = r"""
function done(summary, latency, requests)
  local a, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); r = r + t:get("refused"); o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format('AXRESULT {"requests":%d,"duration_us":%d,"ok":%d,"refused":%d,"other":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"errors":%d}\n',
    summary.requests, summary.duration, a, r, o, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout))
end
"""


def find_wrk():
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("FATAL: wrk is not installed; the measurement uses it.\n"
                         "       Install it from Debian's packages: apt-get install -y wrk")
    return path


class Market:
    """`n` listings in open auctions (free bidding for an hour), each with the same two
    eligible bidders, set up through the API of one instance."""

    def __init__(self, server, db, n):
        self.server, self.db, self.base = server, db, server.base
        ex = Exchange.__new__(Exchange)  # borrow its register/login helpers
        ex.server, ex.db, ex.rng = server, db, random.Random(9)
        self.ex = ex
        op_email = "operator-%s@measure.example" % uuid.uuid4().hex[:6]
        r = server.cli("user", "create", "--email", op_email, "--name", "测量操作员", "--role", "operator",
                       env={"ASSET_EXCHANGE_PASSWORD": PASSWORD})
        assert r.returncode == 0, r.stderr
        self.operator = ex.login(op_email)
        owner_email = "seller-%s@measure.example" % uuid.uuid4().hex[:6]
        ex.register(owner_email, "enterprise", "浙江省测量国有资产经营有限公司")
        self.owner = ex.login(owner_email)
        self.emails = []
        for i in range(2):
            email = "bidder%d-%s@measure.example" % (i, uuid.uuid4().hex[:6])
            ex.register(email, "bidder", "测量竞买人%d有限公司" % i)
            self.emails.append(email)
        db.execute("UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL")
        tokens = [ex.login(e) for e in self.emails]
        end = datetime.now(timezone.utc) + timedelta(seconds=10 + n)
        with ThreadPoolExecutor(8) as pool:
            self.ids = list(pool.map(lambda i: self._listing(i, end, tokens), range(n)))
        while datetime.now(timezone.utc) < end + timedelta(seconds=1):
            time.sleep(0.2)
        start = datetime.now(timezone.utc) + timedelta(seconds=3)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda lid: self._schedule(lid, start), self.ids))
        while datetime.now(timezone.utc) < start + timedelta(milliseconds=500):
            time.sleep(0.1)

    def _listing(self, i, end, tokens):
        b = self.base
        listing = must(201, request("POST", b + "/api/v1/listings", {
            "kind": "asset_transfer", "title": "测量：厂房设备一批%d" % i, "description": "吞吐量测量用项目。",
            "appraised_value": "1000000.00",
            "appraisal_date": (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%d"),
            "listing_price": "1000000.00", "deposit": "100000.00", "increment": "100.00",
            "disclosure_working_days": 0, "free_bidding_seconds": 3600, "countdown_seconds": 300,
        }, self.owner), "create listing")
        lid = listing["id"]
        must(200, request("POST", b + "/api/v1/listings/%d/submit" % lid, {}, self.owner), "submit")
        must(200, request("POST", b + "/api/v1/listings/%d/review" % lid,
                          {"decision": "approve", "comment": "", "disclosure_end": iso(end)}, self.operator), "approve")
        for token in tokens:
            reg = must(201, request("POST", b + "/api/v1/listings/%d/registrations" % lid, {}, token), "register")
            must(200, request("POST", b + "/api/v1/registrations/%d/review" % reg["id"],
                              {"decision": "qualify", "comment": ""}, self.operator), "qualify")
            must(200, request("POST", b + "/api/v1/registrations/%d/deposit" % reg["id"],
                              {"action": "confirm", "reference": "M-%d" % reg["id"]}, self.operator), "deposit")
        return lid

    def _schedule(self, lid, start):
        deadline = time.time() + 30
        while True:
            r = request("POST", self.base + "/api/v1/listings/%d/auction" % lid, {"starts_at": iso(start)}, self.operator)
            if r[0] == 200:
                return
            assert time.time() < deadline, "could not schedule %d: %s" % (lid, r)
            time.sleep(0.3)

    def bid_data(self, path):
        """One line per listing: id, next amount (fen), increment (fen), next bidder's token,
        the other's token, from the current state in the database."""
        tokens = [self.ex.login(e) for e in self.emails]
        uid = {r[0]: r[1] for r in self.db.query(
            "SELECT email, id FROM users WHERE email IN ('%s', '%s')" % tuple(self.emails))}
        rows = self.db.query(
            "SELECT a.listing_id, a.start_price, a.increment, COALESCE(a.current_price, -1), "
            "COALESCE(r.user_id, -1) FROM auctions a LEFT JOIN registrations r ON r.id = a.leading_registration_id "
            "WHERE a.listing_id IN (%s) ORDER BY a.listing_id" % ",".join(map(str, self.ids)))
        with open(path, "w") as f:
            for lid, start, inc, cur, leader in rows:
                nxt = int(start) if int(cur) < 0 else int(cur) + int(inc)
                first = 1 if int(leader) == int(uid[self.emails[0]]) else 0
                f.write("%s %d %s %s %s\n" % (lid, nxt, inc, tokens[first], tokens[1 - first]))

    def accepted_bids(self):
        return int(self.db.query("SELECT count(*) FROM bids")[0][0])


def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def postgres_pids(db):
    """PostgreSQL processes working for this measurement: the backends connected to its
    database and the server's background processes (WAL writer, checkpointer, ...), not the
    backends of other databases on the same server."""
    rows = common.psql(common.PG_ADMIN_URL, "SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
                       "OR backend_type <> 'client backend'" % db.name)
    pids = [int(x) for x in rows.split() if x.strip().isdigit()]
    try:
        with open(glob.glob("/var/run/postgresql/*.pid")[0]) as f:
            pids.append(int(f.readline()))  # the postmaster
    except (IndexError, OSError, ValueError):
        pass
    return pids


def kernel_pids():
    """Kernel threads (children of kthreadd): journal and block I/O work caused by commits."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == "2":
                        pids.append(int(entry))
            except (OSError, IndexError):
                pass
    return pids


def wait_quiet(limit, busy_max=25.0, quiet_for=5):
    """Waits (up to `limit` s) until the machine has been below `busy_max` % of one core for
    `quiet_for` s in a row; returns the last reading."""
    deadline, streak, busy = time.time() + limit, 0, 0.0
    while True:
        with CpuMeter({}) as m:
            time.sleep(1)
        busy = m.result["machine"]
        streak = streak + 1 if busy < busy_max else 0
        if streak >= quiet_for or time.time() > deadline:
            return busy


def machine_ticks():
    """(all, idle + iowait, irq + softirq) ticks of the machine; guest time is already in user."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4], v[5] + v[6]


class CpuMeter:
    """CPU used by process groups over an interval, in % of one core."""

    def __init__(self, groups):
        self.groups = groups  # name -> callable returning pids

    def __enter__(self):
        self.t0 = time.time()
        self.m0 = machine_ticks()
        self.pids = {name: f() for name, f in self.groups.items()}
        self.p0 = {name: {p: proc_ticks(p) for p in pids} for name, pids in self.pids.items()}
        return self

    def __exit__(self, *exc):
        hz = os.sysconf("SC_CLK_TCK")
        elapsed = time.time() - self.t0
        total, idle, irq = machine_ticks()
        cores = os.cpu_count() or 1
        span = max(1, total - self.m0[0])
        busy = ((total - self.m0[0]) - (idle - self.m0[1])) / span * 100 * cores
        self.result = {"machine": busy}
        if self.groups:
            # Interrupts and softirqs (loopback networking mostly) are no process's time.
            self.result["irq"] = (irq - self.m0[2]) / span * 100 * cores
        for name, pids in self.pids.items():
            used = sum(proc_ticks(p) - t for p, t in self.p0[name].items())
            self.result[name] = used / hz / elapsed * 100
        if self.groups:
            self.result["other"] = max(0.0, busy - sum(v for k, v in self.result.items() if k != "machine"))
        return False


def run_wrk(script, url, data, connections, seconds, cpu_groups):
    wrk = find_wrk()
    env = dict(os.environ, AX_WRK_DATA=data, AX_WRK_THREADS=str(connections), AX_WRK_NONCE=uuid.uuid4().hex[:8])
    cmd = [wrk, "-t%d" % connections, "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s", "-s", script, url]
    box = {}
    groups = dict(cpu_groups)
    groups["wrk"] = lambda: [box["pid"]] if "pid" in box else []
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    box["pid"] = p.pid
    try:
        time.sleep(0.3)  # measure the steady part only
        with CpuMeter(groups) as cpu:
            time.sleep(max(1, seconds - 1))
        out, err = p.communicate(timeout=seconds + 60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    line = next((l for l in out.splitlines() if l.startswith("AXRESULT ")), None)
    if p.returncode != 0 or not line:
        raise RuntimeError("wrk failed (%s): %s %s" % (p.returncode, out, err))
    r = json.loads(line.split(" ", 1)[1])
    r["seconds"] = r["duration_us"] / 1e6
    r["cpu"] = cpu.result
    return r


def measure(seconds, connections, rounds, quiet_wait):
    find_nginx()
    find_wrk()
    log("building the release binary")
    common.use_release_build()
    db = Database("postgres")
    fleet = Fleet(db, nginx_workers=os.cpu_count() or 1, access_log=False)
    work = tempfile.mkdtemp(prefix="ax-wrk-")
    scripts = {}
    for name, text in (("bids", BIDS_LUA), ("read", READ_LUA)):
        scripts[name] = os.path.join(work, name + ".lua")
        with open(scripts[name], "w") as f:
            f.write(text.replace("%DONE%", DONE_LUA))
    data = os.path.join(work, "data.txt")
    results = []
    try:
        fleet.migrate()
        fleet.start([0])
        log("setting up %d listings in open auctions" % connections)
        market = Market(fleet.servers[0], db, connections)
        plan = [("direct to app1 (no nginx)", 1, True)]
        for _ in range(rounds):
            plan += [("nginx -> 1 instance", 1, False), ("nginx -> 3 instances", 3, False)]
        running = 1
        busy = wait_quiet(quiet_wait)
        log("machine busy before the runs: %.0f %% of one core (of %d)%s" % (
            busy, os.cpu_count(), "" if busy < 25 else ": OTHER WORK IS RUNNING, the figures will be low and noisy"))
        for label, n, direct in plan:
            if n > running:
                fleet.start(list(range(running, n)))
            elif n < running:
                took = [terminate(s) for s in fleet.servers[n:running]]
                log("stopped %d instances (no SSE streams open) with SIGTERM: exited after %s s"
                    % (len(took), "/".join("%.1f" % t for t in took)))
            running = n
            fleet.nginx.stop()
            fleet.nginx.write([s.base for s in fleet.servers[:n]])
            fleet.nginx.start()
            url = fleet.servers[0].base if direct else fleet.nginx.base
            groups = {
                "app": lambda: [s.proc.pid for s in fleet.servers if s.proc and s.proc.poll() is None],
                "nginx": fleet.nginx.pids,
                "postgres": lambda: postgres_pids(db),
                "kernel": kernel_pids,
            }
            for scenario in ("read", "bids"):
                market.bid_data(data)
                run_wrk(scripts[scenario], url, data, connections, 3, groups)  # warm-up
                market.bid_data(data)
                before = market.accepted_bids()
                r = run_wrk(scripts[scenario], url, data, connections, seconds, groups)
                if scenario == "bids":
                    r["in_db"] = market.accepted_bids() - before
                r.update(label=label, scenario=scenario)
                results.append(r)
                log("%-27s %-5s %7.0f req/s  %s p50 %.1f ms  p99 %.1f ms  cpu app %.0f%% nginx %.0f%% pg %.0f%% "
                    "wrk %.0f%% kernel %.0f%% irq %.0f%% other %.0f%%%s"
                    % (label, scenario, r["requests"] / r["seconds"],
                       ("%6.0f bids/s" % (r["ok"] / r["seconds"])) if scenario == "bids" else "            ",
                       r["p50_us"] / 1000, r["p99_us"] / 1000, r["cpu"]["app"], r["cpu"]["nginx"],
                       r["cpu"]["postgres"], r["cpu"]["wrk"], r["cpu"]["kernel"], r["cpu"]["irq"], r["cpu"]["other"],
                       "  (DISTURBED by other work)" if r["cpu"]["other"] > 20 else ""))
                assert r["other"] == 0 and r["errors"] == 0, "failed requests in %s/%s: %s" % (label, scenario, r)
                if scenario == "bids":
                    assert r["refused"] == 0, "bids refused: %s" % r
                    assert r["in_db"] >= r["ok"], "accepted %d bids but %d are in the database" % (r["ok"], r["in_db"])
    except Exception:
        log("logs:", " ".join(fleet.logs()))
        raise
    finally:
        fleet.shutdown()
        db.drop()
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, seconds, connections)


def print_table(results, seconds, connections):
    print()
    print("Throughput, %d s per run, %d connections (wrk -t%d -c%d), %s, %d cores, %s build"
          % (seconds, connections, connections, connections, datetime.now(timezone.utc).strftime("%Y-%m-%d"),
             os.cpu_count(), "release" if "/release/" in common.BINARY else "debug"))
    print()
    print("| setup | mix | requests/s | accepted bids/s | p50 ms | p99 ms | CPU app / nginx / PostgreSQL / wrk / kernel + irq / other (% of one core) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        c = r["cpu"]
        print("| %s | %s | %.0f | %s | %.1f | %.1f | %.0f / %.0f / %.0f / %.0f / %.0f / %.0f |" % (
            r["label"], "GET listing + GET auction" if r["scenario"] == "read" else "POST bid",
            r["requests"] / r["seconds"], ("%.0f" % (r["ok"] / r["seconds"])) if r["scenario"] == "bids" else "-",
            r["p50_us"] / 1000, r["p99_us"] / 1000, c["app"], c["nginx"], c["postgres"], c["wrk"],
            c["kernel"] + c["irq"], c["other"]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the short form for CI (no rolling restart)")
    mode.add_argument("--measure", action="store_true", help="throughput through nginx, 1 vs 3 instances")
    mode.add_argument("--migration-race", action="store_true", help="start three instances at once on an empty database")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--checkpoint-seconds", type=int, default=1,
                   help="audit checkpoint interval of every instance (default 1: they race)")
    p.add_argument("--seconds", type=int, default=15, help="--measure: seconds per run")
    p.add_argument("--connections", type=int, default=16, help="--measure: wrk connections (= threads = listings)")
    p.add_argument("--rounds", type=int, default=2, help="--measure: how often 1 and 3 instances alternate")
    p.add_argument("--quiet-wait", type=int, default=600,
                   help="--measure: wait up to this many seconds for the machine to be idle first")
    args = p.parse_args()
    # A SIGTERM still drops the database and stops the instances, nginx and wrk.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("scale-out drill: terminated"))
    find_nginx()
    if args.measure:
        measure(args.seconds, args.connections, args.rounds, args.quiet_wait)
        return
    build()
    if args.migration_race:
        migration_race()
        return
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    log("scale-out drill, seed", seed)
    drill(args.quick, seed, args.checkpoint_seconds)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("SCALE-OUT DRILL FAILED:", e)
        sys.exit(1)
