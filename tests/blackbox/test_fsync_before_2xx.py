"""test_fsync_before_2xx.py — no 2XX leaves hookd before what it acknowledges is on disk.
HOOKD_BACKENDS: sqlite

Watched with strace: every write into SQLite's write-ahead log is followed by an fsync of that
log that has finished before the receiver's 200 or the sender's 202 is written to the client's
socket. (kill -9 cannot show this: the kernel keeps what was written without an fsync; a
power cut would not.)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import uuid

import harness
from serve_support import ServeCase

SECRET = "whsec_fsync_order"
CALLS = "pwrite64,pwritev,write,writev,fdatasync,fsync,sendmsg,sendto"
LINE = re.compile(r"^(\d+) +(?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$")


class Trace:
    """strace -f on a running hookd, writing one line per system call to a file."""

    def __init__(self, test, pid):
        if not shutil.which("strace"):
            test.fail("strace is not installed (scripts/deps.sh test installs it)")
        self.path = os.path.join(test.tmp, "strace.txt")
        self.proc = subprocess.Popen(["strace", "-f", "-qq", "-y", "-s", "48", "-e",
                                      "trace=" + CALLS, "-o", self.path, "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def text(self):
        try:
            with open(self.path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def attached(self, poke):
        """Pokes hookd until an answer of it shows in the trace (strace is attached)."""
        def seen():
            poke()
            return "HTTP/1.1 " in self.text()
        harness.wait_until(seen, timeout=15, interval=0.2, what="strace attached to hookd")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=15)
        return self.text()


def calls(text):
    """The trace's system calls in the order they finished: (name, arguments, start index,
    end index), the indexes counting lines; a call split by another thread's has both."""
    out, pending = [], {}
    for i, line in enumerate(text.splitlines()):
        m = LINE.match(line)
        if not m:
            continue
        pid = m.group(1)
        if m.group(2):  # "<... name resumed>"
            name, start, args = pending.pop(pid, (m.group(2), i, ""))
            out.append((name, args + m.group(3), start, i))
        elif line.endswith("<unfinished ...>"):
            pending[pid] = (m.group(4), i, m.group(5))
        else:
            out.append((m.group(4), m.group(5), i, i))
    return out


def unsynced_at_each_2xx(test, text, status):
    """For each answer with this status written to a socket: the log writes finished before
    it that no finished fsync of the log (begun after them) covers. Asserts there were
    answers and log writes at all, so that a trace missing them cannot pass."""
    wal = re.compile(r"^\d+<[^>]*-wal>")
    done = calls(text)
    writes = [c for c in done if c[0].startswith("pwrite") and wal.match(c[1])]
    syncs = [c for c in done if c[0] in ("fdatasync", "fsync") and wal.match(c[1])]
    answers = [c for c in done
               if c[0] in ("write", "writev", "sendmsg", "sendto") and "socket:" in c[1]
               and ("HTTP/1.1 %d" % status) in c[1]]
    test.assertTrue(writes, "no write into the WAL was traced:\n" + text[-3000:])
    test.assertTrue(answers, "no %d was traced:\n%s" % (status, text[-3000:]))
    bad = []
    for answer in answers:
        for w in writes:
            if w[3] >= answer[2]:
                continue
            if not any(s[2] > w[3] and s[3] < answer[2] for s in syncs):
                bad.append((w, answer))
    return len(answers), bad


class FsyncBefore2xx(ServeCase):
    def test_receiver_syncs_the_log_before_each_200(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        # The handler never finishes, so no outcome commits while the answers are written.
        p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % port,
                        "--admin-listen", "127.0.0.1:%d" % admin, "--db", db.url,
                        "--secret", SECRET, "--workers", "1", "--exec", "sleep 60"],
                       wait_port=port)
        trace = Trace(self, p.proc.pid)
        trace.attached(lambda: harness.request("GET", port, "/"))
        ids = []
        for n in range(6):
            body = json.dumps({"event": "events.created", "data": {"id": n}})
            wid = "msg_%s" % uuid.uuid4().hex
            status, _, _ = harness.request("POST", port, "/", body,
                                           harness.signed_headers(SECRET, body, wid=wid))
            self.assertEqual(status, 200)
            ids.append(wid)
        text = trace.stop()
        p.kill9()  # its handler runs would hold a graceful stop
        answers, bad = unsynced_at_each_2xx(self, text, 200)
        self.assertGreaterEqual(answers, 6)
        self.assertEqual(len(bad), 0, "a 200 was written before the log was synced: %d log "
                         "writes, the first %s" % (len(bad), bad[:1]))
        rows = db.query("SELECT id FROM receive_webhooks")
        self.assertEqual(sorted(r[0] for r in rows), sorted(ids))

    def test_sender_syncs_the_log_before_each_202(self):
        p = self.start_serve()
        trace = Trace(self, p.proc.pid)
        trace.attached(lambda: self.api(p, "GET", "/v1/destinations"))
        # No destination subscribes: no delivery commits while the answers are written.
        ids = [self.event(p, "events.created", {"id": n, "calendar_id": 1})["id"] for n in range(6)]
        text = trace.stop()
        answers, bad = unsynced_at_each_2xx(self, text, 202)
        self.assertGreaterEqual(answers, 6)
        self.assertEqual(len(bad), 0, "a 202 was written before the log was synced: %d log "
                         "writes, the first %s" % (len(bad), bad[:1]))
        rows = p.db.query("SELECT id FROM serve_events")
        self.assertTrue(set(ids) <= {r[0] for r in rows})


if __name__ == "__main__":
    harness.main()
