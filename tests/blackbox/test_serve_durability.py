"""test_serve_durability.py — `hookd serve` loses nothing: kill -9 in the middle of a burst of
events, then a restart, delivers every accepted webhook; SIGTERM lets the attempt under way
finish and be recorded, then exits 0.
HOOKD_BACKENDS: sqlite postgres
"""
import threading
import time

import harness
from serve_support import ServeCase


class ServeDurabilityTest(ServeCase):

    def test_kill9_during_burst_then_restart_delivers_everything(self):
        rec = self.recorder()
        port = harness.free_port()
        p = self.start_serve(port=port)
        self.destination(p, rec.url)
        accepted = []
        lock = threading.Lock()
        stop = threading.Event()

        def post(worker):
            for i in range(75):
                if stop.is_set():
                    return
                try:
                    status, body = self.api(p, "POST", "/v1/events",
                                            {"event": "events.created",
                                             "data": {"id": worker * 1000 + i, "calendar_id": 1}})
                except OSError:
                    return
                if status == 202:
                    with lock:
                        accepted.extend(w["id"] for w in body["webhooks"])

        threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(accepted) >= 150, timeout=30, what="150 accepted events")
        p.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertGreaterEqual(len(accepted), 150)

        q = self.start_serve(port=port)
        expected = set(accepted)

        def delivered():
            return expected <= {r["headers"]["x-webhook-id"] for r in rec.received()}
        harness.wait_until(delivered, timeout=30, what="every accepted webhook delivered")
        harness.wait_until(
            lambda: self.ok(q, "GET", "/v1/webhooks?status=pending&limit=1")["data"] == [],
            timeout=15, what="no pending webhook left")

    def test_sigterm_finishes_the_attempt_under_way(self):
        rec = self.recorder(lambda req: (200, {}, b"slow ok", 1.5))
        port = harness.free_port()
        p = self.start_serve(["--timeout", "5s"], port=port)
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, what="the attempt to start")
        started = time.monotonic()
        self.assertEqual(p.terminate(timeout=20), 0)
        self.assertGreater(time.monotonic() - started, 0.5)  # it waited for the answer
        q = self.start_serve(port=port)
        w = self.webhook(q, wid)
        self.assertEqual(w["status"], "succeeded")
        self.assertEqual(w["attempt_count"], 1)
        self.assertEqual(w["attempts"][0]["response"], "slow ok")
        time.sleep(0.5)
        self.assertEqual(rec.count(), 1)

    def test_restart_keeps_destinations_and_pending_retries(self):
        healthy = threading.Event()
        rec = self.recorder(lambda req: ((200 if healthy.is_set() else 503), {}, b"", 0))
        port = harness.free_port()
        p = self.start_serve(["--retry-delays", "1s"], port=port)
        d = self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, what="the first attempt")
        self.assertEqual(p.terminate(), 0)
        healthy.set()
        q = self.start_serve(["--retry-delays", "1s"], port=port)
        self.assertTrue(self.ok(q, "GET", "/v1/destinations/" + d["id"])["active"])
        w = self.wait_status(q, wid, "succeeded")
        self.assertEqual([a["status_code"] for a in w["attempts"]], [503, 200])


if __name__ == "__main__":
    harness.main()
