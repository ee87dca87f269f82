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

    def error_lines(self, limit=10):
        """The last `limit` ERROR lines of the server's log (why a 500 was answered): a failed
        drill prints them, since its directory is removed when it ends."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        causes = [line for line in lines if "internal error" in line or "panicked" in line]
        return (causes or [line for line in lines if "ERROR" in line])[-limit:]

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

    def __init__(self, server, db, bidders=8, free_seconds=3600, countdown=300, increment="10000",
                 method="english"):
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
        self.register(owner_email, "enterprise", "浙江省某国有资产经营有限公司")
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
            "bidding_method": method,
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


# ----- additions for the scale-out drill (scaleout.py) -------------------------------------

import http.client  # noqa: E402  (kept with the code that uses them)
import threading  # noqa: E402
import urllib.parse  # noqa: E402


def use_release_build():
    """Builds the optimised binary and makes `Server` and `Server.cli` use it from now on
    (measurements; the drills themselves run the debug build)."""
    global BINARY
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    BINARY = os.path.join(ROOT, "target", "release", "asset-exchange")
    return BINARY


def find_nginx():
    """Path of the nginx binary, or exit with how to install it."""
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not path:
        raise SystemExit(
            "FATAL: nginx is not installed; the scale-out drill runs three instances behind it.\n"
            "       Install it from Debian's packages: apt-get install -y nginx\n"
            "       (the system service is not used; the drill runs its own nginx on a free port)"
        )
    return path


NGINX_CONF = """\
# Written by scripts/drills (common.Nginx): a private nginx in front of the app instances.
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    log_format upstream '$remote_addr [$time_iso8601] "$request" $status '
                        'upstream=$upstream_addr $upstream_status rt=$request_time';
    {access_log}

    upstream asset_exchange {{
{servers}
        # Idle HTTP/1.1 connections kept open to the instances; closed before the app's
        # own 5 s keep-alive limit so nginx never reuses a connection the app is closing.
        keepalive 64;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64k;          # the app's server.max_body_bytes
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        # The app takes the FIRST address of X-Forwarded-For and prefers `Forwarded: for=`:
        # overwrite the one and drop the other, so a client cannot choose its own address.
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header Forwarded "";
        proxy_set_header X-Forwarded-Proto $scheme;
        add_header X-Upstream $upstream_addr always;

        # Live auction events: no buffering, a long read timeout (the app sends a
        # keep-alive comment every 30 s).
        location ~ ^/api/v1/listings/[0-9]+/auction/events$ {{
            proxy_pass http://asset_exchange;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}

        location / {{
            proxy_pass http://asset_exchange;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


class Nginx:
    """A private nginx (`nginx -c FILE -p DIR -g 'daemon off;'`) on a free port in front of
    `upstreams` (http://127.0.0.1:PORT bases). The system's nginx service is not touched."""

    def __init__(self, upstreams, workers=1, access_log=True):
        self.binary = find_nginx()
        self.dir = tempfile.mkdtemp(prefix="ax-nginx-")
        # Workers run as `nobody` when the master is root: they need the temp folders.
        os.chmod(self.dir, 0o755)
        for sub in ("tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            os.chmod(os.path.join(self.dir, sub), 0o777)
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.workers = workers
        self.access_log = access_log
        self.proc = None
        self.write(upstreams)

    def write(self, upstreams):
        servers = "\n".join(
            "        server %s max_fails=1 fail_timeout=2s;" % u.split("://", 1)[-1] for u in upstreams
        )
        log_line = ("access_log %s/access.log upstream;" % self.dir) if self.access_log else "access_log off;"
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(workers=self.workers, dir=self.dir, port=self.port,
                                      servers=servers, access_log=log_line))

    def _cmd(self, *extra):
        return [self.binary, "-e", os.path.join(self.dir, "error.log"), "-c", self.conf,
                "-p", self.dir, *extra]

    def start(self, timeout=10):
        r = subprocess.run(self._cmd("-t", "-q"), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx -t rejected %s: %s" % (self.conf, r.stderr.strip()))
        self.proc = subprocess.Popen(self._cmd("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "ab"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited with %s; see %s/error.log" % (self.proc.returncode, self.dir))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen on %d" % self.port)

    def pids(self):
        """The master and its workers (for CPU accounting)."""
        if not self.proc:
            return []
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == self.proc.pid:
                    pids.append(int(entry))
        return pids

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class EventStream:
    """A Server-Sent Events subscriber on a thread: records every event with the time it
    arrived, and (unless `reconnect` is off) reconnects after an error or the end of the
    stream with `Last-Event-ID`, until it has seen `closed` at the end of a stream or is
    stopped."""

    def __init__(self, base, path, name, reconnect=True):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.path, self.name = u.hostname, u.port, path, name
        self.reconnect = reconnect
        self.events = []  # (arrived, id, event, data)
        self.connects = 0
        self.failures = []  # (time, what) of failed connections and broken streams
        self.last_id = None
        self.connected = threading.Event()
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._conn = None
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name="sse-" + self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set():
                ended_closed = False
                try:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                    self._conn = conn
                    headers = {"Accept": "text/event-stream"}
                    if self.last_id is not None:
                        headers["Last-Event-ID"] = str(self.last_id)
                    conn.request("GET", self.path, headers=headers)
                    resp = conn.getresponse()
                    if resp.status != 200:
                        self.failures.append((time.time(), "HTTP %d" % resp.status))
                    else:
                        self.connects += 1
                        self.connected.set()
                        ended_closed = self._read(resp)
                        if not ended_closed:
                            self.failures.append((time.time(), "stream ended"))
                except (OSError, http.client.HTTPException) as e:
                    if not self._stop.is_set():
                        self.failures.append((time.time(), "%s: %s" % (type(e).__name__, e)))
                finally:
                    try:
                        conn.close()
                    except Exception:
                        pass
                if ended_closed or not self.reconnect:
                    return
                self._stop.wait(0.2)
        finally:
            self.finished.set()

    def _read(self, resp):
        """Reads events until the stream ends; True when the last event was `closed`."""
        fields, last_event = {}, None
        for raw in resp:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if "data" in fields or "event" in fields:
                    data = fields.get("data")
                    try:
                        data = json.loads(data) if data is not None else None
                    except ValueError:
                        pass
                    event = fields.get("event", "message")
                    eid = fields.get("id")
                    self.events.append((time.time(), eid, event, data))
                    if eid is not None and event == "bid":
                        self.last_id = int(eid)
                    last_event = event
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
        return last_event == "closed"

    def stop(self):
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)

    def bids(self):
        return [(t, int(eid), data) for t, eid, event, data in self.events if event == "bid"]

