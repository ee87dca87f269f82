"""Shared pieces of the drills: start and stop the real binary, talk to its HTTP API, set up
an exchange with a live auction, and read the database directly for the checks.

Standard library only, so a drill runs on a fresh machine with nothing but Python 3 and, for
PostgreSQL, the `psql` client.
"""

import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "debug", "asset-exchange")
PASSWORD = "Drill-Passphrase-2026"
PG_ADMIN_URL = os.environ.get("DRILL_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def log(*parts):
    print("[%s]" % datetime.now().strftime("%H:%M:%S"), *parts, flush=True)


def build():
    subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Database:
    """A fresh database for one drill: a SQLite file or a new PostgreSQL database."""

    def __init__(self, backend):
        self.backend = backend
        self._secrets = {}
        self.signing_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.dir = tempfile.mkdtemp(prefix="ax-drill-")
        if backend == "sqlite":
            self.path = os.path.join(self.dir, "drill.sqlite")
            self.url = "sqlite://" + self.path
        else:
            self.name = "ax_drill_%s" % uuid.uuid4().hex[:10]
            psql(PG_ADMIN_URL, "CREATE DATABASE %s" % self.name)
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def secret(self, name):
        """A random secret for this drill's database, the same on every restart."""
        if name not in self._secrets:
            self._secrets[name] = secrets.token_urlsafe(48)
        return self._secrets[name]

    def query(self, sql):
        """Rows of a read-only query, as lists of strings."""
        if self.backend == "sqlite":
            con = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=30)
            try:
                return [[("" if v is None else str(v)) for v in row] for row in con.execute(sql)]
            finally:
                con.close()
        out = psql(self.url, sql)
        return [line.split("|") for line in out.splitlines() if line]

    def execute(self, sql):
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path, timeout=30)
            try:
                con.executescript(sql)
                con.commit()
            finally:
                con.close()
        else:
            psql(self.url, sql)

    def drop(self):
        if self.backend == "postgres":
            psql(PG_ADMIN_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


def psql(url, sql):
    r = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr.strip())
    return r.stdout


class Server:
    """The real binary, started in the test profile on a fixed port."""

    def __init__(self, db, port=None, extra_env=None, log_path=None):
        self.db = db
        self.port = port or free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ)
        self.env.update(
            {
                "APP_ENV": "test",
                "APP_CONFIG_DIR": os.path.join(ROOT, "config"),
                "DATABASE_URL": db.url,
                "APP__SERVER__PORT": str(self.port),
                "APP__SERVER__HOST": "127.0.0.1",
                "RUST_LOG": "warn",
                # The test profile would draw fresh secrets at every start; a drill restarts
                # the server and needs tokens and checkpoints to stay valid across restarts.
                "APP__AUTH__JWT_SECRET": db.secret("jwt"),
                "APP__AUDIT__PII_SALT": db.secret("salt"),
                "APP__AUDIT__SIGNING_KEY": db.signing_key,
            }
        )
        self.env.update(extra_env or {})
        self.log_path = log_path or os.path.join(db.dir, "server.log")
        self.proc = None

    def start(self, timeout=30):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BINARY, "serve"], cwd=self.db.dir, env=self.env, stdout=logf, stderr=logf
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s; see %s" % (self.proc.returncode, self.log_path))
            try:
                status, _, _ = request("GET", self.base + "/health/ready", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready; see %s" % self.log_path)

    def kill(self):
        """SIGKILL: no shutdown, no flush, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def cli(self, *args, env=None):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([BINARY, *args], cwd=self.db.dir, env=e, capture_output=True, text=True)


def request(method, url, body=None, token=None, headers=None, timeout=10):
    """(status, headers, parsed JSON or text). Raises OSError on connection failures."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), _parse(raw)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), _parse(raw)
    except urllib.error.URLError as e:
        raise OSError(str(e.reason)) from e


def _parse(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def must(expected, result, what):
    status, _, body = result
    if status != expected:
        raise AssertionError("%s: expected %s, got %s: %s" % (what, expected, status, body))
    return body


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def credit_code(rng):
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    body = "91350100" + "".join(rng.choice(alphabet) for _ in range(9))
    total = sum(alphabet.index(c) * w for c, w in zip(body, weights))
    return body + alphabet[(31 - total % 31) % 31]


class Exchange:
    """An operator, an enterprise, a listing in an open auction and `bidders` eligible bidders."""

    def __init__(self, server, db, bidders=8, free_seconds=3600, countdown=300, increment="10000"):
        self.server, self.db = server, db
        self.rng = random.Random(7)
        base = server.base
        op_email = "operator-%s@drill.example" % uuid.uuid4().hex[:6]
        r = server.cli(
            "user", "create", "--email", op_email, "--name", "演练操作员", "--role", "operator",
            env={"ASSET_EXCHANGE_PASSWORD": PASSWORD},
        )
        if r.returncode != 0:
            raise RuntimeError("user create failed: %s %s" % (r.stdout, r.stderr))
        self.operator = self.login(op_email)
        owner_email = "seller-%s@drill.example" % uuid.uuid4().hex[:6]
        self.register(owner_email, "enterprise", "福建省某国有资产经营有限公司")
        self.owner = self.login(owner_email)
        listing = must(201, request("POST", base + "/api/v1/listings", {
            "kind": "equity_transfer",
            "title": "演练：某国有企业100%股权转让",
            "description": "崩溃演练用项目。",
            "appraised_value": "1000000.00",
            "appraisal_date": (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%d"),
            "listing_price": "1000000.00",
            "deposit": "100000.00",
            "increment": increment,
            "disclosure_working_days": 0,
            "free_bidding_seconds": free_seconds,
            "countdown_seconds": countdown,
        }, self.owner), "create listing")
        self.listing_id = listing["id"]
        lid = self.listing_id
        must(200, request("POST", base + "/api/v1/listings/%d/submit" % lid, {}, self.owner), "submit")
        end = datetime.now(timezone.utc) + timedelta(seconds=3)
        must(200, request("POST", base + "/api/v1/listings/%d/review" % lid,
                          {"decision": "approve", "comment": "", "disclosure_end": iso(end)}, self.operator), "approve")
        self.bidders = []
        emails = []
        for i in range(bidders):
            email = "bidder%d-%s@drill.example" % (i, uuid.uuid4().hex[:6])
            self.register(email, "bidder", "演练竞买人%d有限公司" % i)
            emails.append(email)
        # E-mail verification is not what this drill tests: confirm the addresses directly.
        db.execute("UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL")
        for email in emails:
            token = self.login(email)
            reg = must(201, request("POST", base + "/api/v1/listings/%d/registrations" % lid, {}, token), "register")
            must(200, request("POST", base + "/api/v1/registrations/%d/review" % reg["id"],
                              {"decision": "qualify", "comment": ""}, self.operator), "qualify")
            must(200, request("POST", base + "/api/v1/registrations/%d/deposit" % reg["id"],
                              {"action": "confirm", "reference": "DRILL-%d" % reg["id"]}, self.operator), "deposit")
            self.bidders.append(token)
        # Disclosure ends within seconds; with two or more eligible bidders the listing then
        # waits for the operator to schedule the auction.
        deadline = time.time() + 30
        while True:
            start = datetime.now(timezone.utc) + timedelta(seconds=2)
            result = request("POST", base + "/api/v1/listings/%d/auction" % lid,
                             {"starts_at": iso(start)}, self.operator)
            if result[0] == 200:
                break
            if time.time() > deadline:
                raise AssertionError("could not schedule the auction: %s" % (result,))
            time.sleep(0.3)
        while datetime.now(timezone.utc) < start + timedelta(milliseconds=300):
            time.sleep(0.1)

    def register(self, email, role, org):
        must(201, request("POST", self.server.base + "/api/v1/auth/register", {
            "email": email, "password": PASSWORD, "name": "演练用户", "role": role,
            "organization_name": org, "credit_code": credit_code(self.rng),
        }), "register " + email)

    def login(self, email):
        body = must(200, request("POST", self.server.base + "/api/v1/auth/login",
                                 {"email": email, "password": PASSWORD}), "login " + email)
        return body["access_token"]


def verify_trail(server):
    """`asset-exchange audit verify` against the database; returns the parsed report."""
    r = server.cli("audit", "verify")
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("audit verify printed no report: %s %s" % (r.stdout, r.stderr))
    if r.returncode != 0 or not report.get("valid"):
        raise AssertionError("audit trail invalid: %s" % json.dumps(report))
    return report
