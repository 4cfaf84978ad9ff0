"""harness.py — what every black-box test needs: the real hookd on a free loopback port with a
fresh database, a real HTTP server that records what it receives, and an independent
implementation of the signature (Python's hmac) to check hookd against.

Environment (set by ctest): HOOKD_BIN, HOOKD_TEST_BACKEND (sqlite|postgres), HOOKD_PG_DIR.
Standard library only. Every wait is bounded and fails the test when it runs out.
"""
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HOOKD = os.environ.get("HOOKD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "hookd")
BACKEND = os.environ.get("HOOKD_TEST_BACKEND", "sqlite")


# The admin token the harness gives every `hookd receive` it starts (as HOOKD_ADMIN_TOKEN)
# unless the test names one itself (the env variable, "" to let hookd generate one, or
# --admin-token). request() sends it as the bearer token to the admin port of a receiver
# started here, unless the caller passes its own Authorization header (None: send none).
ADMIN_TOKEN = "hk_harness0receive0admin0token0123456789abcdef"
_admin_ports = {}  # --admin-listen port -> (the Hookd that listens there, its token)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_ports(pid):
    """The TCP ports a process listens on (IPv4 and IPv6), from /proc: its sockets' inodes
    matched against the kernel's LISTEN entries."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def now_ts(offset_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(secret, wid, ts, body):
    """The signature recipe of SPEC §1, written independently of hookd's C code."""
    if isinstance(body, str):
        body = body.encode()
    msg = wid.encode() + b"." + ts.encode() + b"." + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signed_headers(secret, body, wid=None, ts=None):
    wid = wid or str(uuid.uuid4())
    ts = ts or now_ts()
    return {
        "Content-Type": "application/json",
        "X-Webhook-Id": wid,
        "X-Webhook-Timestamp": ts,
        "X-Webhook-Signature": sign(secret, wid, ts, body),
    }


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate until it returns a truthy value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_bindable(port, timeout=10.0):
    """Until 127.0.0.1:port can be bound again as hookd binds it (SO_REUSEADDR), or timeout:
    after a kill -9 a connection of the dead process can hold its port for a moment, and a
    restart "at the same place" then fails with EADDRINUSE."""
    deadline = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.time() >= deadline:
                return  # hookd will say what is wrong
            time.sleep(0.05)
        finally:
            s.close()


def request(method, port, path, body=None, headers=None, timeout=15.0, host="127.0.0.1"):
    """One HTTP request; returns (status, headers dict, body bytes). body may be dict (JSON)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    if port in _admin_ports and not any(k.lower() == "authorization" for k in hdrs):
        hdrs["Authorization"] = "Bearer " + _admin_ports[port][1]
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def json_request(method, port, path, body=None, token=None, headers=None, timeout=15.0):
    """Like request, but with a bearer token and the answer parsed as JSON (None if empty)."""
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = "Bearer " + token
    status, _, data = request(method, port, path, body, hdrs, timeout)
    return status, (json.loads(data) if data else None)


class Database:
    """A fresh, empty database for one hookd process (or several sharing it)."""

    def __init__(self, tmpdir, name="hookd"):
        self.backend = BACKEND
        if BACKEND == "postgres":
            pgdir = os.environ["HOOKD_PG_DIR"]
            with open(os.path.join(pgdir, "port")) as f:
                self.port = int(f.read().strip())
            self.name = "t_" + uuid.uuid4().hex[:16]
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-q", "-c", "CREATE DATABASE %s" % self.name],
                           check=True, capture_output=True, timeout=30)
            self.url = "postgres://postgres@127.0.0.1:%d/%s" % (self.port, self.name)
        else:
            self.path = os.path.join(tmpdir, name + ".db")
            self.url = "sqlite:" + self.path

    def query(self, sql):
        """Runs SQL with the backend's own client; returns rows as lists of strings."""
        if self.backend == "postgres":
            out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                  "postgres", "-d", self.name, "-tAF", "\t", "-c", sql],
                                 check=True, capture_output=True, text=True, timeout=30).stdout
        else:
            import sqlite3
            con = sqlite3.connect(self.path, timeout=30)
            try:
                return [[("" if v is None else str(v)) for v in row]
                        for row in con.execute(sql).fetchall()]
            finally:
                con.close()
        return [line.split("\t") for line in out.splitlines() if line]


class Hookd:
    """A running `hookd ARGS…`; stderr goes to a log file shown when a test fails."""

    def __init__(self, args, tmpdir, env=None, wait_port=None, name="hookd"):
        self.log_path = os.path.join(tmpdir, "%s-%d.log" % (name, free_port()))
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        if list(args[:1]) == ["receive"]:
            self._admin_token(list(args), full_env)
        self.args = [HOOKD] + list(args)
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        if wait_port:
            self.wait_listening(wait_port)

    def _admin_token(self, args, env):
        """Gives a receiver ADMIN_TOKEN unless the test chose, and remembers its admin port's
        token for request()."""
        if "--admin-token" in args:
            token = args[args.index("--admin-token") + 1]
        else:
            token = env.setdefault("HOOKD_ADMIN_TOKEN", ADMIN_TOKEN)
        if token and "--admin-listen" in args:
            port = int(args[args.index("--admin-listen") + 1].rsplit(":", 1)[1])
            _admin_ports[port] = (self, token)

    def wait_listening(self, port, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("hookd exited with %s:\n%s" % (self.proc.returncode,
                                                                      self.output()))
            # the port must be this process's: under ctest -j another test's hookd may have
            # taken the same free port first, and answering it would test the wrong process
            return port in listening_ports(self.proc.pid)
        wait_until(ready, timeout, what="hookd listening on %d" % port)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout=20.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        for port, (owner, _) in list(_admin_ports.items()):
            if owner is self:
                del _admin_ports[port]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


class Recorder:
    """A real HTTP server on 127.0.0.1 recording every request it gets.

    respond(handler_request) -> (status, headers dict, body bytes, delay seconds) decides
    each answer; the default answers 200. Threaded so a slow answer does not block others.
    """

    def __init__(self, respond=None):
        self.requests = []           # dicts: method, path, headers (lowercased), body, time
        self.lock = threading.Lock()
        self.respond = respond or (lambda req: (200, {}, b"ok", 0))
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "time": time.time()}
                with recorder.lock:
                    recorder.requests.append(req)
                    req["n"] = len(recorder.requests)
                status, headers, out, delay = recorder.respond(req)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self):
        with self.lock:
            return list(self.requests)

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TestCase(unittest.TestCase):
    """Gives each test a temporary folder and cleans up processes and servers it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hookd-test-")
        self._procs = []
        self._servers = []

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        failed = bool(result) and any(t is self for t, _ in result.failures + result.errors)
        for p in self._procs:
            p.stop()
            if failed or os.environ.get("HOOKD_TEST_VERBOSE"):
                sys.stderr.write("\n---- %s ----\n%s\n" % (" ".join(p.args), p.output()[-8000:]))
        for s in self._servers:
            s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def hookd(self, args, **kw):
        p = Hookd(args, self.tmp, **kw)
        self._procs.append(p)
        return p

    def recorder(self, respond=None):
        r = Recorder(respond)
        self._servers.append(r)
        return r

    def database(self, name="hookd"):
        return Database(self.tmp, name)

    def run_hookd(self, args, stdin=b"", timeout=30, env=None):
        """Runs a short hookd command; returns (exit code, stdout str, stderr str)."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        if isinstance(stdin, str):
            stdin = stdin.encode()
        p = subprocess.run([HOOKD] + list(args), input=stdin, capture_output=True,
                           timeout=timeout, env=full_env)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def main():
    unittest.main(verbosity=2)


def raw_exchange(port, raw, timeout=5.0):
    """Sends raw bytes to 127.0.0.1:port; returns everything read until the server closes
    (with b"<timeout>" appended when it never did within the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
    except OSError:
        pass
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        data += b"<timeout>"
    except OSError:
        pass
    s.close()
    return data
