"""test_multinode_serve.py — several `hookd serve` processes sharing one database.
HOOKD_BACKENDS: sqlite postgres

A node killed with kill -9 mid-burst leaves its leases to expire and the others deliver
everything, with no more duplicates than it had in flight; live nodes share the work, each
webhook sent once; an idle node wakes through LISTEN/NOTIFY; default node ids never steal
leases.
"""
import os
import re
import sys
import threading
import time

import harness
from serve_support import ServeCase

LEASE = ["--lease", "3s", "--timeout", "2s"]
# Several senders on one SQLite file must each be started so (alone, a sender keeps its
# leases in memory and refuses company); PostgreSQL is always shared and accepts the flag.
SHARED = ["--shared-sqlite"]


def metric(port, name, labels=""):
    """The value of one series of a node's /metrics (0 when absent)."""
    status, _, body = harness.request("GET", port, "/metrics")
    if status != 200:
        raise AssertionError("/metrics -> %s" % status)
    pattern = r"^%s%s\s+([0-9.e+]+)$" % (re.escape(name), re.escape(labels))
    m = re.search(pattern, body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


class MultinodeServe(ServeCase):

    def setUp(self):
        super().setUp()
        # Two processes on one SQLite file also share claims (each claim is a write
        # transaction), so the same scenarios run there; only NOTIFY is PostgreSQL's.
        self.db = self.database()

    def node(self, extra=(), port=None):
        return self.start_serve(extra=list(LEASE) + SHARED + list(extra), port=port)

    def ids(self, rec):
        return [r["headers"].get("x-webhook-id") for r in rec.received()]

    def post_burst(self, nodes, total, threads=4, stop=None):
        """Posts `total` events round-robin over nodes from a few threads; returns the
        webhook ids of the accepted ones (202)."""
        accepted = []
        lock = threading.Lock()

        def worker(k):
            for i in range(k, total, threads):
                if stop is not None and stop.is_set() and i % len(nodes) == 0:
                    continue
                p = nodes[i % len(nodes)]
                try:
                    status, body = self.api(p, "POST", "/v1/events",
                                            {"event": "events.created",
                                             "data": {"id": i, "calendar_id": 1}})
                except OSError:
                    continue
                if status == 202:
                    with lock:
                        accepted.extend(w["id"] for w in body["webhooks"])

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in ts:
            t.start()
        return ts, accepted

    def test_kill9_mid_burst_the_other_node_delivers_everything(self):
        # Answers slow enough that both nodes always have their 8 attempts under way.
        rec = self.recorder(lambda req: (200, {}, b"ok", 0.1))
        a = self.node(["--max-in-flight", "8"])
        b = self.node(["--max-in-flight", "8"])
        self.destination(a, rec.url)
        stop = threading.Event()
        ts, accepted = self.post_burst([a, b], 300, stop=stop)
        harness.wait_until(lambda: rec.count() >= 40, 20, what="deliveries under way")
        a.kill9()
        killed = time.time()
        stop.set()
        # What A held when it died: only these may be sent twice.
        held = {r[0] for r in self.db.query(
            "SELECT id FROM serve_webhooks WHERE lease_owner LIKE '%%127.0.0.1:%d/%%'"
            % a.port)}
        self.assertTrue(held, "A held no lease when killed")
        self.assertLessEqual(len(held), 8)
        for t in ts:
            t.join(60)
        self.assertGreater(len(accepted), 150)
        harness.wait_until(lambda: set(accepted) <= set(self.ids(rec)), 30,
                           what="every accepted webhook delivered")
        took = time.time() - killed
        got = [i for i in self.ids(rec) if i in set(accepted)]
        twice = {i for i in got if got.count(i) > 1}
        duplicates = len(got) - len(set(got))
        if os.environ.get("HOOKD_TEST_VERBOSE"):
            sys.stderr.write("\n%d accepted, %d deliveries, A held %d, %d duplicates, all "
                             "delivered %.2f s after the kill\n"
                             % (len(set(accepted)), len(got), len(held), duplicates, took))
        self.assertLessEqual(duplicates, 8, "more duplicates than A held in flight")
        self.assertLessEqual(twice, held, "a webhook A did not hold was sent twice")
        # Nothing is left claimed or pending once B is done.
        harness.wait_until(lambda: self.db.query(
            "SELECT COUNT(*) FROM serve_webhooks WHERE status <> 'succeeded' "
            "OR lease_owner IS NOT NULL")[0][0] == "0", 10, what="all recorded")
        self.assertLess(took, 20)

    def test_two_live_nodes_share_the_work_and_send_each_webhook_once(self):
        rec = self.recorder(lambda req: (200, {}, b"ok", 0.01))
        a = self.node(["--max-in-flight", "8"])
        b = self.node(["--max-in-flight", "8"])
        self.destination(a, rec.url)
        ts, accepted = self.post_burst([a, b], 200)
        for t in ts:
            t.join(60)
        self.assertEqual(len(accepted), 200)
        harness.wait_until(lambda: set(accepted) <= set(self.ids(rec)), 30,
                           what="every webhook delivered")
        harness.wait_until(lambda: self.db.query(
            "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'succeeded'")[0][0] == "200",
            10, what="all recorded")
        got = self.ids(rec)
        self.assertEqual(len(got), 200, "a webhook was delivered twice")
        self.assertEqual(len(set(got)), 200)
        by_a = metric(a.port, "hookd_attempts_total", '{result="success"}')
        by_b = metric(b.port, "hookd_attempts_total", '{result="success"}')
        self.assertEqual(by_a + by_b, 200)
        self.assertGreater(by_a, 0, "node A delivered nothing")
        self.assertGreater(by_b, 0, "node B delivered nothing")

    def test_idle_node_wakes_through_notify(self):
        if harness.BACKEND != "postgres":
            self.skipTest("LISTEN/NOTIFY is PostgreSQL's: on SQLite another process's events "
                          "are found by polling only")
        rec = self.recorder()
        api_only = self.node(["--max-in-flight", "0"])
        sender = self.node(["--poll-interval", "10s"])
        self.destination(api_only, rec.url)
        # A first event shows the sender's LISTEN is in force (its poll is 10 s away).
        self.event(api_only, data={"id": 99, "calendar_id": 1})
        harness.wait_until(lambda: rec.count() == 1, 5, what="the first delivery")
        for n in range(5):
            before = rec.count()
            t0 = time.time()
            self.event(api_only, data={"id": n, "calendar_id": 1})
            harness.wait_until(lambda: rec.count() > before, 5, interval=0.005,
                               what="delivery %d" % n)
            took = time.time() - t0
            self.assertLess(took, 0.5, "event %d took %.3f s with a 10 s poll" % (n, took))
        self.assertEqual(metric(api_only.port, "hookd_attempts_total", '{result="success"}'),
                         0)

    def test_listener_reconnects_after_losing_its_connection(self):
        if harness.BACKEND != "postgres":
            self.skipTest("LISTEN/NOTIFY is PostgreSQL's")
        rec = self.recorder()
        api_only = self.node(["--max-in-flight", "0"])
        sender = self.node(["--poll-interval", "10s"])
        self.destination(api_only, rec.url)
        self.event(api_only, data={"id": 0, "calendar_id": 1})
        harness.wait_until(lambda: rec.count() == 1, 5, what="the first delivery")
        killed = self.db.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'hookd-listener' AND datname = current_database()")
        self.assertEqual(killed, [["t"]])
        harness.wait_until(lambda: "listening again" in sender.output(), 5,
                           what="the listener back")
        t0 = time.time()
        self.event(api_only, data={"id": 1, "calendar_id": 1})
        harness.wait_until(lambda: rec.count() == 2, 5, interval=0.005,
                           what="the delivery after the reconnect")
        self.assertLess(time.time() - t0, 0.5)

    def test_default_node_ids_do_not_steal_leases(self):
        # A slow answer keeps A's attempt under way while B restarts on the same host.
        rec = self.recorder(lambda req: (200, {}, b"ok", 2.5))
        a = self.start_serve(extra=["--lease", "30s", "--timeout", "5s"] + SHARED)
        b_port = harness.free_port()
        b = self.start_serve(extra=["--lease", "30s", "--timeout", "5s", "--max-in-flight",
                                    "0"] + SHARED, port=b_port)
        self.destination(a, rec.url)
        wid = self.event(a)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, 5, what="A's attempt under way")
        self.assertEqual(b.terminate(), 0)
        # B's restart releases only its own node id's leases, never A's.
        self.start_serve(extra=["--lease", "30s", "--timeout", "5s"] + SHARED, port=b_port)
        self.wait_status(a, wid, "succeeded", timeout=10)
        time.sleep(0.3)
        self.assertEqual(self.ids(rec), [wid])

    def test_after_sigterm_another_node_delivers_the_rest_once(self):
        # A delivers to a slow destination one attempt at a time; on SIGTERM it finishes and
        # records the attempt under way and hands back any lease it still holds, so B
        # delivers the rest at once (not after A's 60 s lease) and nothing twice.
        rec = self.recorder(lambda req: (200, {}, b"ok", 0.3))
        a = self.start_serve(["--lease", "60s", "--max-in-flight-per-destination", "1"])
        self.destination(a, rec.url)
        wids = [self.event(a)["webhooks"][0]["id"] for _ in range(20)]
        harness.wait_until(lambda: rec.count() >= 1, 10, what="A's first delivery")
        self.assertEqual(a.terminate(), 0)
        delivered_by_a = len(set(self.ids(rec)))
        self.assertLess(delivered_by_a, 20, "A delivered everything before it stopped")
        b = self.start_serve(["--lease", "60s", "--max-in-flight-per-destination", "4",
                              "--poll-interval", "200ms"])
        harness.wait_until(lambda: set(self.ids(rec)) >= set(wids), 15,
                           what="B delivering what A held")
        self.assertEqual(sorted(self.ids(rec)), sorted(wids), "a webhook was sent twice")
        self.assertIsNotNone(b)


if __name__ == "__main__":
    harness.main()
