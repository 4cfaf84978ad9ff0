"""test_receive_e2e.py — `hookd serve` delivering to `hookd receive`, end to end: every event
reaches the receiver's handler exactly once, even when the sender retries by hand. Also: the
receiver's threads carry their names (top -H, ps -L).
HOOKD_BACKENDS: sqlite postgres

Both processes share one database, as SPEC §2 allows: their tables must not collide.
"""
import os

import harness

TOKEN = "e2e-api-token-0123456789"


class ReceiveEndToEnd(harness.TestCase):
    def test_serve_to_receive_each_webhook_handled_once(self):
        db = self.database()
        api = harness.free_port()
        self.hookd(["serve", "--listen", "127.0.0.1:%d" % api, "--db", db.url,
                    "--api-token", TOKEN, "--allow-http", "--allow-private-addresses",
                    "--retry-delays", "200ms"], wait_port=api, name="serve")

        rport, radmin = harness.free_port(), harness.free_port()
        status, dest = harness.json_request(
            "POST", api, "/v1/destinations",
            {"name": "receiver", "url": "http://127.0.0.1:%d/hooks" % rport,
             "events": ["events.created", "events.deleted"]}, token=TOKEN)
        self.assertEqual(status, 201, dest)
        secret = dest["secret"]

        handled = os.path.join(self.tmp, "handled")
        self.hookd(["receive", "--listen", "127.0.0.1:%d" % rport,
                    "--admin-listen", "127.0.0.1:%d" % radmin, "--db", db.url,
                    "--secret", secret, "--path", "/hooks",
                    "--exec", 'echo "$WEBHOOK_ID $WEBHOOK_EVENT" >> %s' % handled],
                   wait_port=rport, name="receive")
        status, out = harness.json_request("POST", api, "/v1/destinations/%s/activate"
                                           % dest["id"], token=TOKEN)
        self.assertEqual(status, 200, out)

        webhooks = {}
        for i in range(10):
            event = "events.created" if i % 2 == 0 else "events.deleted"
            status, out = harness.json_request(
                "POST", api, "/v1/events",
                {"event": event, "data": {"id": i, "calendar_id": 3}}, token=TOKEN)
            self.assertEqual(status, 202, out)
            self.assertEqual(len(out["webhooks"]), 1, out)
            webhooks[out["webhooks"][0]["id"]] = event

        def lines():
            try:
                with open(handled) as f:
                    return [line.split() for line in f if line.strip()]
            except FileNotFoundError:
                return []

        harness.wait_until(lambda: len(lines()) >= len(webhooks), 20, what="all handled")
        self.assertEqual(sorted(tuple(x) for x in lines()), sorted(webhooks.items()))

        def succeeded(wid):
            status, out = harness.json_request("GET", api, "/v1/webhooks/" + wid, token=TOKEN)
            return status == 200 and out["status"] == "succeeded"
        for wid in webhooks:
            harness.wait_until(lambda: succeeded(wid), 10, what="sender marks it succeeded")

        # The sender retries one by hand: same id, so the receiver answers duplicate and the
        # handler does not run again.
        wid = next(iter(webhooks))
        status, out = harness.json_request("POST", api, "/v1/webhooks/%s/retry" % wid,
                                           token=TOKEN)
        self.assertEqual(status, 202, out)

        def retried():
            status, out = harness.json_request("GET", api, "/v1/webhooks/" + wid, token=TOKEN)
            return status == 200 and len(out["attempts"]) >= 2 and out["status"] == "succeeded"
        harness.wait_until(retried, 10, what="the manual retry delivered")
        _, _, text = harness.request("GET", radmin, "/metrics")
        self.assertIn("hookd_receive_duplicates_total 1", text.decode())
        self.assertEqual(len(lines()), len(webhooks))
        status, out = harness.json_request("GET", radmin, "/webhooks?status=done")
        self.assertEqual(sorted(x["id"] for x in out["data"]), sorted(webhooks))

    def test_threads_carry_their_names(self):
        """An operator's `top -H` or `ps -L` tells the loop from the store threads (and, on
        SQLite, from the WAL checkpoints' thread)."""
        db = self.database()
        port = harness.free_port()
        p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % port,
                        "--admin-listen", "127.0.0.1:%d" % harness.free_port(),
                        "--db", db.url, "--secret", "whsec_names", "--exec", "true"],
                       wait_port=port, name="receive")
        task = "/proc/%d/task" % p.proc.pid

        def named():
            """The names given to threads (a sanitizer's own threads keep the process's)."""
            found = []
            for tid in os.listdir(task):
                try:
                    with open(os.path.join(task, tid, "comm")) as f:
                        found.append(f.read().strip())
                except FileNotFoundError:
                    pass  # a thread that ended meanwhile
            return sorted(n for n in found if n != "hookd")
        # the store on PostgreSQL is two connections (saves, handler), each a thread of its own
        want = (["hookd-checkpt", "hookd-store"] if db.backend == "sqlite"
                else ["hookd-store", "hookd-store"])
        # (the port may listen before the store's threads are up: PostgreSQL connects first,
        # and a thread is named just after it starts)
        try:
            harness.wait_until(lambda: named() == want, 10, what="threads named %s" % want)
        except AssertionError:
            self.assertEqual(named(), want)
            raise


if __name__ == "__main__":
    harness.main()
