"""test_serve_alone.py — a sender holding its SQLite file alone keeps its leases in memory.
HOOKD_BACKENDS: sqlite

`hookd serve` on SQLite flocks the file: a second sender on it is refused with a message
(without --shared-sqlite it would not see the first's claims, which are not in the file),
and senders started with --shared-sqlite (leases in the rows) cannot join a sender alone;
an API-only node (--max-in-flight 0) claims nothing and may.
After kill -9 nothing is leased in the file, so a restart, whatever its node id, sends what
was pending at once instead of after the dead run's lease.
"""
import threading
import time

import harness
from serve_support import ServeCase

REFUSED = "is in use by another hookd serve"


class ServeAlone(ServeCase):

    def test_second_sender_on_the_file_is_refused(self):
        a = self.start_serve()
        code, _, err = self.run_hookd(["serve", "--db", a.db.url, "--listen",
                                       "127.0.0.1:%d" % harness.free_port(), "--api-token",
                                       "t0123456789abcdef"], timeout=20)
        self.assertEqual(code, 1, err)
        self.assertIn(REFUSED, err)
        self.assertIn(a.db.path, err)
        code, _, err = self.run_hookd(["serve", "--db", a.db.url, "--shared-sqlite",
                                       "--listen", "127.0.0.1:%d" % harness.free_port(),
                                       "--api-token", "t0123456789abcdef"], timeout=20)
        self.assertEqual(code, 1, err)
        self.assertIn("holds it alone", err)
        # the first is unharmed: it still takes and delivers events
        rec = self.recorder()
        self.destination(a, rec.url)
        self.event(a)
        harness.wait_until(lambda: rec.count() == 1, 10, what="a delivery by the first")
        # once it stops, the file is free again
        self.assertEqual(a.terminate(), 0)
        b = self.start_serve()
        self.assertIsNone(b.proc.poll())

    def test_api_only_node_joins_a_sender_alone(self):
        rec = self.recorder()
        a = self.start_serve()
        api = self.start_serve(extra=["--max-in-flight", "0"])
        self.destination(api, rec.url)
        wid = self.event(api)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, 10, what="the sender delivering")
        self.wait_status(api, wid, "succeeded")
        self.assertEqual([r["headers"]["x-webhook-id"] for r in rec.received()], [wid])
        self.assertIsNone(a.proc.poll())

    def test_shared_senders_refuse_a_sender_alone(self):
        self.start_serve(extra=["--shared-sqlite"])
        self.start_serve(extra=["--shared-sqlite"])
        code, _, err = self.run_hookd(["serve", "--db", self.db.url, "--listen",
                                       "127.0.0.1:%d" % harness.free_port(), "--api-token",
                                       "t0123456789abcdef"], timeout=20)
        self.assertEqual(code, 1, err)
        self.assertIn(REFUSED, err)

    def test_kill9_mid_drain_restart_elsewhere_sends_at_once(self):
        # Slow answers keep 8 attempts under way; a 60 s lease would hold them that long if
        # it were in the file, and the restart has another node id (another port), so it
        # would not release them either.
        rec = self.recorder(lambda req: (200, {}, b"ok", 0.2))
        a = self.start_serve(extra=["--lease", "60s", "--max-in-flight", "8"])
        self.destination(a, rec.url)
        accepted = []
        lock = threading.Lock()

        def post(k):
            for i in range(40):
                status, body = self.api(a, "POST", "/v1/events",
                                        {"event": "events.created",
                                         "data": {"id": k * 100 + i, "calendar_id": 1}})
                if status == 202:
                    with lock:
                        accepted.extend(w["id"] for w in body["webhooks"])

        ts = [threading.Thread(target=post, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(accepted), 160)
        harness.wait_until(lambda: rec.count() >= 20, 20, what="deliveries under way")
        a.kill9()
        before = len(rec.received())
        self.assertEqual(self.db.query(
            "SELECT COUNT(*) FROM serve_webhooks WHERE lease_owner IS NOT NULL "
            "OR lease_until IS NOT NULL")[0][0], "0", "a lease was written to the file")
        pending = int(self.db.query(
            "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'pending'")[0][0])
        self.assertGreater(pending, 0, "nothing was left to deliver after the kill")
        t0 = time.time()
        b = self.start_serve(extra=["--lease", "60s"])
        ids = lambda: [r["headers"]["x-webhook-id"] for r in rec.received()]
        harness.wait_until(lambda: set(accepted) <= set(ids()), 20,
                           what="every accepted webhook delivered")
        self.assertLess(time.time() - t0, 20, "the restart waited for leases")
        harness.wait_until(lambda: self.db.query(
            "SELECT COUNT(*) FROM serve_webhooks WHERE status <> 'succeeded'")[0][0] == "0",
            10, what="every outcome recorded")
        got = ids()
        # Only the attempts under way at the kill (8 at most) may have been sent twice.
        self.assertLessEqual(len(got) - len(set(got)), 8)
        self.assertEqual(set(got), set(accepted))
        self.assertLessEqual(before, len(got))
        self.assertIsNotNone(b)


if __name__ == "__main__":
    harness.main()
