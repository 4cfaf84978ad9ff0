"""test_sqlite_checkpoint.py — on SQLite, hookd's WAL is copied into the database file while
webhooks keep coming (a thread checkpoints it, off the commit path), so the WAL stays bounded
however much is written, and nothing saved is lost on the way.
HOOKD_BACKENDS: sqlite
"""
import http.client
import os
import threading
import uuid

import harness

SECRET = "whsec_checkpoint"
THREADS = 8
PER_THREAD = 400
BODY_DATA = "x" * 16000  # ~16 KB per webhook: 3,200 of them write ~50 MB
# SQLite's WAL pages are 4 KiB; hookd lets the WAL reach 8,000 pages at most before the
# writer finishes a checkpoint itself (src/db_checkpoint.c), plus one commit's pages.
WAL_BOUND = 40 * 1024 * 1024


class SqliteCheckpoint(harness.TestCase):
    def test_wal_stays_bounded_under_a_stream_of_writes(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        # The handler is parked (one worker, a run that sleeps until its timeout): nearly every
        # write is an ingest.
        p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % port,
                        "--admin-listen", "127.0.0.1:%d" % admin, "--db", db.url,
                        "--secret", SECRET, "--workers", "1", "--handler-timeout", "3s",
                        "--exec", "sleep 600"],
                       wait_port=port)
        wal = db.path + "-wal"
        peak = [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], os.stat(wal).st_size)
                except FileNotFoundError:
                    pass
                done.wait(0.005)

        accepted = []
        lock = threading.Lock()

        def sender(t):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(PER_THREAD):
                body = '{"event":"events.created","data":{"n":%d,"pad":"%s"}}' % (
                    t * PER_THREAD + i, BODY_DATA)
                wid = str(uuid.uuid4())
                conn.request("POST", "/", body, harness.signed_headers(SECRET, body, wid=wid))
                resp = conn.getresponse()
                resp.read()
                if 200 <= resp.status < 300:
                    with lock:
                        accepted.append(wid)
            conn.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        senders = [threading.Thread(target=sender, args=(t,)) for t in range(THREADS)]
        for s in senders:
            s.start()
        for s in senders:
            s.join()
        done.set()
        watcher.join()

        self.assertEqual(len(accepted), THREADS * PER_THREAD, "every webhook answered 2XX")
        written = THREADS * PER_THREAD * len(BODY_DATA)
        self.assertGreater(written, WAL_BOUND, "the test writes more than the bound")
        self.assertGreater(peak[0], 0, "the WAL was seen")
        self.assertLessEqual(peak[0], WAL_BOUND,
                             "WAL peaked at %d bytes for %d written" % (peak[0], written))
        # Checkpointed while hookd runs: the database file itself holds most of it.
        self.assertGreater(os.stat(db.path).st_size, written // 2)
        rows = db.query("SELECT COUNT(*) FROM receive_webhooks")
        self.assertEqual(int(rows[0][0]), len(accepted))
        self.assertEqual(p.terminate(), 0)
        # The last connection's close checkpoints the rest and removes the WAL.
        self.assertFalse(os.path.exists(wal), "the WAL is gone after a clean stop")
        rows = db.query("SELECT COUNT(*) FROM receive_webhooks")
        self.assertEqual(int(rows[0][0]), len(accepted), "every saved webhook is still there")


if __name__ == "__main__":
    harness.main()
