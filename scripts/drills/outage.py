#!/usr/bin/env python3
"""Dependency outage drills against the real binary:

- postgres: PostgreSQL stops in the middle of bid and read load and comes back. While it is
  down every request that needs it fails with 503 `service_unavailable` (never a 500, never
  a hang), /health/ready says 503; afterwards the service recovers by itself, readiness says
  200, every acknowledged bid is there once, every refused one re-sent with its key is placed
  at most once, and the audit trail verifies. Runs on a private PostgreSQL cluster (initdb in
  a temporary folder) so the machine's shared server is never touched.
- smtp: the SMTP server is down while mail is queued; nothing is lost, and once it is back
  every message is delivered exactly once (by Message-ID).
- disk: the SQLite file's file system fills up under writes. Writes are refused with 507
  `storage_full` and change nothing, reads keep working, writes work again as soon as there
  is space (no restart), and the file passes `PRAGMA integrity_check` and the audit trail
  verifies. Needs root (it mounts a small tmpfs).

    scripts/drills/outage.py                # all three
    scripts/drills/outage.py postgres smtp
"""

import argparse
import glob
import os
import shutil
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal

from common import Database, Exchange, Server, build, free_port, log, must, request, verify_trail
from crash import INCREMENT, check, fmt, resolve


# ----- a private PostgreSQL cluster -------------------------------------------------------


class Cluster:
    """initdb in a temporary folder, run as the postgres user, on a free port."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="ax-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.as_postgres([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--no-sync"])

    def as_postgres(self, cmd):
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        r = subprocess.run(prefix + cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (cmd[0], r.stdout, r.stderr))

    def start(self):
        self.as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-l",
                          os.path.join(self.dir, "pg.log"), "-o",
                          "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.dir),
                          "start"])

    def stop(self):
        self.as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-m", "fast", "stop"])

    def url(self):
        return "postgres://postgres@127.0.0.1:%d/postgres" % self.port

    def destroy(self):
        try:
            self.stop()
        except RuntimeError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterDatabase(Database):
    """The private cluster's own `postgres` database."""

    def __init__(self, cluster):
        self.backend = "postgres"
        self._secrets = {}
        import base64, secrets as s
        self.signing_key = base64.b64encode(s.token_bytes(32)).decode()
        self.dir = tempfile.mkdtemp(prefix="ax-drill-")
        self.url = cluster.url()

    def drop(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_drill():
    cluster = Cluster()
    cluster.start()
    db = ClusterDatabase(cluster)
    server = Server(db, extra_env={"APP__DATABASE__CONNECT_TIMEOUT_SECONDS": "2"})
    try:
        server.start()
        ex = Exchange(server, db, bidders=6)
        base = "%s/api/v1/listings/%d" % (server.base, ex.listing_id)
        stop = threading.Event()
        lock = threading.Lock()
        acked, refused_503, outcomes = {}, {}, []

        def bidder(token, seed):
            import random
            rng = random.Random(seed)
            while not stop.is_set():
                key = "outage-" + uuid.uuid4().hex
                try:
                    st, _, a = request("GET", base + "/auction", timeout=15)
                    if st != 200:
                        with lock:
                            outcomes.append((time.time(), "GET auction", st, a))
                        time.sleep(0.05)
                        continue
                    price = Decimal(a["current_price"]) if a.get("current_price") else None
                    amount = Decimal(a["start_price"]) if price is None else price + INCREMENT * rng.randint(1, 3)
                    st, _, body = request("POST", base + "/bids", {"amount": fmt(amount)}, token,
                                          headers={"Idempotency-Key": key}, timeout=15)
                except OSError as e:
                    with lock:
                        outcomes.append((time.time(), "POST bids", "timeout/connection", str(e)))
                    continue
                with lock:
                    outcomes.append((time.time(), "POST bids", st, body))
                    if st == 201:
                        acked[key] = body
                    elif st == 503:
                        refused_503[key] = (token, amount)
                if st == 503:
                    time.sleep(0.05)

        threads = [threading.Thread(target=bidder, args=(t, i), daemon=True) for i, t in enumerate(ex.bidders)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        log("postgres: stopping PostgreSQL under load")
        down_at = time.time()
        cluster.stop()
        time.sleep(3)
        st, _, ready = request("GET", server.base + "/health/ready", timeout=15)
        assert st == 503, "readiness while PostgreSQL is down: %s %s" % (st, ready)
        st_live, _, _ = request("GET", server.base + "/health/live", timeout=5)
        assert st_live == 200, "liveness must stay 200: %s" % st_live
        cluster.start()
        up_at = time.time()
        log("postgres: PostgreSQL is back after %.1f s" % (up_at - down_at))
        deadline = up_at + 30
        recovered = None
        while time.time() < deadline:
            st, _, _ = request("GET", server.base + "/health/ready", timeout=5)
            if st == 200:
                recovered = time.time()
                break
            time.sleep(0.1)
        assert recovered, "readiness never came back"
        time.sleep(1.5)  # bids flow again
        stop.set()
        for t in threads:
            t.join(timeout=30)
        during = [o for o in outcomes if down_at <= o[0] <= up_at + 0.5]
        bad = [o for o in outcomes if o[2] not in (200, 201, 409, 422, 503)]
        assert not bad, "unexpected answers: %s" % bad[:5]
        failures = [o for o in during if o[2] == 503]
        assert failures, "no request failed while PostgreSQL was down?"
        for o in failures:
            assert isinstance(o[3], dict) and o[3].get("code") == "service_unavailable", o
        after = [o for o in outcomes if o[0] > recovered + 0.5 and o[1] == "POST bids"]
        assert any(o[2] == 201 for o in after), "no bid accepted after recovery"
        committed, placed, refused = resolve(server, ex, refused_503)
        n_bids, events = check(server, db, ex, acked)
        log("postgres: %d requests during the outage, all 503 service_unavailable; readiness 503 "
            "while down, 200 again %.1f s after PostgreSQL returned; %d acknowledged bids all "
            "present; %d bids refused with 503 re-sent: %d had committed, %d placed, %d refused; "
            "%d bids, audit trail valid (%d events)"
            % (len(failures), recovered - up_at, len(acked), len(refused_503), committed, placed,
               refused, n_bids, events))
        server.stop()
    except Exception:
        log("server log:", server.log_path)
        for line in server.error_lines():
            log("  " + line)
        raise
    finally:
        server.kill()
        cluster.destroy()
        db.drop()


# ----- SMTP ----------------------------------------------------------------------------------


class Sink(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port):
        self.messages = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), SmtpHandler)


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for one client: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 drill-sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode("utf-8", "replace").strip().split(" ")[0].upper()
            if verb == "EHLO":
                self.reply("250-drill-sink")
                self.reply("250 8BITMIME")
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go on")
                data = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l)
                with self.server.lock:
                    self.server.messages.append(b"".join(data).decode("utf-8", "replace"))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


def message_id(text):
    for line in text.splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    return None


def smtp_drill():
    port = free_port()
    db = Database("sqlite")
    server = Server(db, extra_env={
        "APP__MAIL__TRANSPORT": "smtp",
        "APP__MAIL__SMTP_HOST": "127.0.0.1",
        "APP__MAIL__SMTP_PORT": str(port),
        "APP__MAIL__SMTP_TLS": "none",
        "APP__MAIL__RETRY_INITIAL_SECONDS": "1",
        "APP__MAIL__RETRY_MAX_DELAY_SECONDS": "2",
        "APP__MAIL__MAX_ATTEMPTS": "1000",
    })
    sink = None
    try:
        server.start()
        from common import PASSWORD, credit_code
        import random
        rng = random.Random(3)
        for i in range(10):
            must(201, request("POST", server.base + "/api/v1/auth/register", {
                "email": "mail%d-%s@drill.example" % (i, uuid.uuid4().hex[:6]), "password": PASSWORD,
                "name": "邮件演练", "role": "bidder" if i % 2 else "enterprise",
                "organization_name": "邮件演练%d有限公司" % i, "credit_code": credit_code(rng),
            }), "register")
        time.sleep(4)
        rows = db.query("SELECT status, attempts, message_id FROM notifications")
        queued = len(rows)
        assert queued >= 10, rows
        assert all(r[0] == "pending" for r in rows), "mail left the outbox while SMTP was down: %s" % rows
        tried = sum(1 for r in rows if int(r[1]) >= 1)
        log("smtp: %d messages queued while SMTP is down; %d already tried and kept pending" % (queued, tried))
        sink = Sink(port)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = db.query("SELECT status, message_id FROM notifications")
            if all(r[0] == "sent" for r in rows):
                break
            time.sleep(0.2)
        assert all(r[0] == "sent" for r in rows), "not everything was sent: %s" % rows
        time.sleep(1.5)  # nothing more may arrive
        with sink.lock:
            got = [message_id(m) for m in sink.messages]
        want = sorted(r[1] for r in rows)
        assert sorted(got) == want and len(set(got)) == len(got), (got, want)
        log("smtp: SMTP back: all %d messages delivered exactly once (Message-IDs match the outbox)" % len(got))
        server.stop()
    except Exception:
        log("server log:", server.log_path)
        for line in server.error_lines():
            log("  " + line)
        raise
    finally:
        server.kill()
        if sink:
            sink.shutdown()
        db.drop()


# ----- a full disk under SQLite --------------------------------------------------------------


def disk_drill():
    if os.geteuid() != 0:
        raise SystemExit("the disk drill mounts a tmpfs and needs root")
    mnt = tempfile.mkdtemp(prefix="ax-disk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], check=True)
    db = Database("sqlite")
    db.path = os.path.join(mnt, "drill.sqlite")
    db.url = "sqlite://" + db.path
    server = Server(db)
    try:
        server.start()
        from common import PASSWORD, credit_code
        import random
        rng = random.Random(5)
        email = "owner-%s@drill.example" % uuid.uuid4().hex[:6]
        must(201, request("POST", server.base + "/api/v1/auth/register", {
            "email": email, "password": PASSWORD, "name": "磁盘演练", "role": "enterprise",
            "organization_name": "磁盘演练有限公司", "credit_code": credit_code(rng),
        }), "register")
        token = must(200, request("POST", server.base + "/api/v1/auth/login",
                                  {"email": email, "password": PASSWORD}), "login")["access_token"]

        def listing(n):
            return {
                "kind": "asset_transfer", "title": "磁盘演练项目%d" % n,
                "description": ("厂房设备一批，位于杭州市。" * 300)[:4000],
                "appraised_value": "500000.00", "appraisal_date": time.strftime("%Y-%m-%d"),
                "listing_price": "500000.00", "deposit": "50000.00", "increment": "1000.00",
                "disclosure_working_days": 5, "free_bidding_seconds": 60, "countdown_seconds": 60,
            }

        created, answers = 0, {}
        for n in range(5000):
            st, _, body = request("POST", server.base + "/api/v1/listings", listing(n), token)
            answers[st] = answers.get(st, 0) + 1
            if st == 201:
                created += 1
                continue
            assert st == 507 and body.get("code") == "storage_full", (st, body)
            break
        else:
            raise AssertionError("the disk never filled")
        before = int(db.query("SELECT count(*) FROM listings")[0][0])
        assert before == created, (before, created)
        for _ in range(3):
            st, _, body = request("POST", server.base + "/api/v1/listings", listing(0), token)
            assert st == 507 and body["code"] == "storage_full", (st, body)
        st, _, page = request("GET", server.base + "/api/v1/listings?per_page=5", token=token)
        assert st == 200, (st, page)
        st, _, me = request("GET", server.base + "/api/v1/me", token=token)
        assert st == 200, (st, me)
        assert int(db.query("SELECT count(*) FROM listings")[0][0]) == before, "a refused write left a row"
        log("sqlite disk: full after %d listings; writes answer 507 storage_full and change nothing; reads still 200"
            % created)
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        st, _, body = request("POST", server.base + "/api/v1/listings", listing(9999), token)
        assert st == 201, ("after freeing space", st, body)
        server.stop()
        con = sqlite3.connect(db.path)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        assert ok == "ok", ok
        report = verify_trail(server)
        log("sqlite disk: space back: writes accepted again without a restart; integrity_check ok; "
            "audit trail valid (%d events)" % report["events_checked"])
    except Exception:
        log("server log:", server.log_path)
        for line in server.error_lines():
            log("  " + line)
        raise
    finally:
        server.kill()
        subprocess.run(["umount", mnt], check=False)
        shutil.rmtree(mnt, ignore_errors=True)
        db.drop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = ["postgres", "smtp", "disk"]
    p.add_argument("drills", nargs="*", metavar="DRILL", help="any of %s (default: all)" % ", ".join(known))
    args = p.parse_args()
    unknown = [d for d in args.drills if d not in known]
    if unknown:
        p.error("unknown drill(s) %s; choose from %s" % (", ".join(unknown), ", ".join(known)))
    drills = args.drills or known
    build()
    for d in drills:
        {"postgres": postgres_drill, "smtp": smtp_drill, "disk": disk_drill}[d]()
    log("outage drills passed:", ", ".join(drills))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("OUTAGE DRILL FAILED:", e)
        sys.exit(1)
