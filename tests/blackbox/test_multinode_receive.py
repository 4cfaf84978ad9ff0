"""test_multinode_receive.py — several `hookd receive` processes sharing one database.
HOOKD_BACKENDS: sqlite postgres

The same webhook id sent to two receivers at once is accepted once, answered duplicate once
and handled once; the handler queue is shared (an idle receiver takes what a busy one
accepted, woken through LISTEN/NOTIFY), and each receiver's pending count follows the shared
store.
"""
import json
import os
import re
import threading
import time
import uuid

import harness

SECRET = "whsec_multinode_receive"


def envelope(n):
    return '{"event":"events.updated","data":{"id":%d,"calendar_id":9}}' % n


class MultinodeReceive(harness.TestCase):

    def setUp(self):
        super().setUp()
        # Two processes on one SQLite file share the id's primary key and the claims too
        # (each is a write transaction), so the same cases run there, but for NOTIFY.
        self.db = self.database()
        self.runs = os.path.join(self.tmp, "runs")

    def receiver(self, name, extra=()):
        port, admin = harness.free_port(), harness.free_port()
        handler = 'echo "$WEBHOOK_ID $NODE" >> %s; sleep "${NAP:-0}"' % self.runs
        args = ["receive", "--listen", "127.0.0.1:%d" % port,
                "--admin-listen", "127.0.0.1:%d" % admin, "--db", self.db.url,
                "--secret", SECRET, "--exec", handler] + list(extra)
        p = self.hookd(args, wait_port=port, env={"NODE": name, "NAP": self.nap},
                       name="receive-" + name)
        p.wait_listening(admin)
        p.port, p.admin, p.name = port, admin, name
        return p

    nap = "0"

    def send(self, p, n, wid):
        body = envelope(n)
        status, _, data = harness.request("POST", p.port, "/", body,
                                          harness.signed_headers(SECRET, body, wid=wid))
        return status, json.loads(data) if data else None

    def handled(self):
        """(id, node) of every handler run so far."""
        try:
            with open(self.runs) as f:
                return [tuple(line.split()) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def pending(self, p):
        _, _, text = harness.request("GET", p.admin, "/metrics")
        m = re.search(r"^hookd_receive_pending ([0-9.]+)$", text.decode(), re.M)
        return float(m.group(1)) if m else None

    def test_same_id_sent_to_two_receivers_is_accepted_and_handled_once(self):
        r1, r2 = self.receiver("r1"), self.receiver("r2")
        ids = [str(uuid.uuid4()) for _ in range(20)]
        answers = {wid: [] for wid in ids}
        for n, wid in enumerate(ids):
            go = threading.Barrier(2)

            def post(p, wid=wid, n=n, go=go):
                go.wait()
                answers[wid].append(self.send(p, n, wid))

            ts = [threading.Thread(target=post, args=(p,)) for p in (r1, r2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
        for wid in ids:
            got = sorted((s, b["status"]) for s, b in answers[wid])
            self.assertEqual(got, [(200, "accepted"), (200, "duplicate")], wid)
        harness.wait_until(lambda: len(self.handled()) >= len(ids), 15,
                           what="every webhook handled")
        # Both nodes' pending counts follow the shared store back to 0.
        harness.wait_until(lambda: self.pending(r1) == 0 and self.pending(r2) == 0, 5,
                           what="pending back to 0 on both receivers")
        runs = [wid for wid, _ in self.handled()]
        self.assertEqual(sorted(runs), sorted(ids), "a webhook was handled twice or never")
        rows = self.db.query("SELECT COUNT(*), SUM(runs) FROM receive_webhooks "
                             "WHERE status = 'done'")
        self.assertEqual(rows, [["20", "20"]])

    def test_idle_receiver_takes_what_a_busy_one_accepted(self):
        if harness.BACKEND != "postgres":
            self.skipTest("LISTEN/NOTIFY is PostgreSQL's: on SQLite a receiver finds another's "
                          "webhooks by polling only")
        self.nap = "1"
        nodes = {p.name: p for p in (self.receiver("r1", ["--workers", "1"]),
                                     self.receiver("r2", ["--workers", "1"]))}
        for n in range(3):
            first, second = str(uuid.uuid4()), str(uuid.uuid4())
            self.assertEqual(self.send(nodes["r1"], 2 * n, first)[0], 200)
            harness.wait_until(lambda: any(w == first for w, _ in self.handled()), 5,
                               what="the first webhook running")
            busy = dict(self.handled())[first]
            # The busy node accepts the second; its one worker is taken, so only the other
            # node can run it, and a notification (not its 1 s poll) must wake it.
            t0 = time.time()
            self.assertEqual(self.send(nodes[busy], 2 * n + 1, second)[0], 200)
            harness.wait_until(lambda: any(w == second for w, _ in self.handled()), 5,
                               interval=0.005, what="the second webhook running")
            took = time.time() - t0
            self.assertNotEqual(dict(self.handled())[second], busy)
            self.assertLess(took, 0.5, "round %d: the idle receiver took %.3f s" % (n, took))
            harness.wait_until(lambda: self.db.query(
                "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'pending'")[0][0] == "0",
                5, what="both runs done")


if __name__ == "__main__":
    harness.main()
