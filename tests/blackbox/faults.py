"""faults.py — what the fault suite (test_faults_*.py, issue 12) shares: a PostgreSQL of the
test's own (so freezing or restarting it disturbs no other test), a TCP listener that never
answers, a steady webhook load against `hookd receive`, and the tally every experiment
reports: acknowledged / lost / duplicated.

A run of a handler is recorded by the handler itself (one line "<id>" appended to a file,
one write(2) per line), so duplicates are counted from what actually ran, not from what
hookd says ran.
"""
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import harness

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")
BODY = '{"event":"events.created","data":{"id":1,"calendar_id":2}}'


class OwnPostgres:
    """A throwaway PostgreSQL started with scripts/pg-test.sh into dir."""

    def __init__(self, dir):
        self.dir = dir
        subprocess.run([os.path.join(SCRIPTS, "pg-test.sh"), "start", dir], check=True,
                       capture_output=True, timeout=120)
        with open(os.path.join(dir, "port")) as f:
            self.port = int(f.read().strip())
        with open(os.path.join(dir, "pgdir")) as f:
            self.pgdir = f.read().strip()
        self.bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        self.bindir = "/usr/lib/postgresql/%s/bin" % self.bindir

    def url(self, name, query=""):
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
                        "-c", "CREATE DATABASE %s" % name], check=True, capture_output=True,
                       timeout=30)
        return "postgres://postgres@127.0.0.1:%d/%s%s" % (self.port, name, query)

    def _ctl(self, *args):
        cmd = "'%s/pg_ctl' -D '%s/data' %s" % (self.bindir, self.pgdir, " ".join(args))
        if os.getuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", cmd]
        else:
            cmd = ["sh", "-c", cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def restart(self):
        self._ctl("-m fast -w -t 60 restart -l '%s/server.log'" % self.pgdir)

    def stop(self):
        self._ctl("-m fast -w -t 60 stop")

    def start(self):
        # The options pg-test.sh started it with: pg_ctl start does not remember them.
        self._ctl("-w -t 60 start -l '%s/server.log' -o \"-c listen_addresses=127.0.0.1 "
                  "-c port=%d -c unix_socket_directories='%s' -c max_connections=200\""
                  % (self.pgdir, self.port, self.pgdir))

    def pids(self):
        """The postmaster and its children (backends, checkpointer, …)."""
        with open(os.path.join(self.pgdir, "data", "postmaster.pid")) as f:
            master = int(f.readline())
        pids = [master]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == master:
                    pids.append(int(entry))
        return pids

    def signal_all(self, sig):
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def close(self):
        self.signal_all(signal.SIGCONT)
        subprocess.run([os.path.join(SCRIPTS, "pg-test.sh"), "stop", self.dir],
                       capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


class SilentListener:
    """Accepts TCP connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Load:
    """Posts signed webhooks to a receiver from a few threads until stopped; remembers each
    id answered 2XX (acknowledged) and the time of the slowest answer."""

    def __init__(self, port, secret, threads=4, pause=0.005, timeout=40.0):
        self.port, self.secret, self.pause, self.timeout = port, secret, pause, timeout
        self.acked, self.refused, self.errors = [], collections.Counter(), 0
        self.slowest = 0.0
        self.missing_retry_after = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping.is_set():
            wid = str(uuid.uuid4())
            started = time.monotonic()
            try:
                status, headers, _ = harness.request(
                    "POST", self.port, "/", BODY, harness.signed_headers(self.secret, BODY,
                                                                         wid=wid),
                    timeout=self.timeout)
            except OSError:
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)
                continue
            took = time.monotonic() - started
            with self.lock:
                self.slowest = max(self.slowest, took)
                if 200 <= status < 300:
                    self.acked.append(wid)
                else:
                    self.refused[status] += 1
                    if status == 503 and not any(k.lower() == "retry-after" for k in headers):
                        self.missing_retry_after += 1
            if status >= 300:
                time.sleep(0.05)
            elif self.pause:
                time.sleep(self.pause)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)
        return list(self.acked)


def handled(path):
    """The ids the handler ran, in order, one per run."""
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def tally(name, acked, ran, cut_by_death=0, backend=None, extra=""):
    """Reports and returns (acknowledged, lost, duplicated) for an experiment: lost are
    acknowledged ids that never ran, duplicated the runs beyond one per id."""
    counts = collections.Counter(ran)
    lost = sum(1 for w in set(acked) if counts[w] == 0)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    line = "fault %s [%s]: acknowledged %d, lost %d, duplicated %d (runs cut by a process " \
           "death: %d)%s\n" % (name, backend or harness.BACKEND, len(set(acked)), lost,
                               duplicated, cut_by_death, extra)
    sys.stderr.write(line)
    out = os.environ.get("HOOKD_FAULT_REPORT")
    if out:
        with open(out, "a") as f:
            f.write(line)
    return len(set(acked)), lost, duplicated


def receive_args(port, admin, url, secret, handled_path, extra=()):
    return ["receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
            "127.0.0.1:%d" % admin, "--db", url, "--secret", secret, "--workers", "4",
            "--exec", 'echo "$WEBHOOK_ID" >> %s' % handled_path] + list(extra)


def db_write(db, sql):
    """Runs a write on a harness.Database with the backend's own client, committed."""
    if db.backend == "postgres":
        db.query(sql)
        return
    import sqlite3
    con = sqlite3.connect(db.path, timeout=30)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()
