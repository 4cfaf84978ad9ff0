"""test_serve_claim_scale.py — the claim among many destinations: 1,000 accounts x 10 active
destinations, events of 20 accounts at once, and an inactive destination holding a backlog
of 20,000 due webhooks (the claim must neither scan it nor wait behind it). Every event
reaches exactly its account's ten destinations, once each; the backlog stays untouched.
HOOKD_BACKENDS: sqlite postgres
Also: the delivery engine's log lines about a webhook name its account.
"""
import json
import time

import harness
from serve_support import ServeCase

GEN = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
SECRET = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef"


class ClaimScaleTest(ServeCase):

    def crowd(self, url):
        """1,000 accounts a1000…a1999, each with ten active destinations d10000…d19999
        (account a(1000 + i // 10)) calling url/<destination id>; and in a1000 an inactive
        destination d0 (first in id order) with 20,000 pending, due webhooks."""
        self.db_write(GEN % 999 + "INSERT INTO serve_accounts (id, name, created_at) "
                      "SELECT 'a' || (1000 + i), 'A', 1 FROM n")
        self.db_write(GEN % 9999 + "INSERT INTO serve_destinations (id, name, url, events, "
                      "headers, secret, active, created_at, updated_at, account_id) "
                      "SELECT 'd' || (10000 + i), 'd', '%s/d' || (10000 + i), "
                      "'[\"events.created\"]', '{}', '%s', 1, 1, 1, 'a' || (1000 + i / 10) "
                      "FROM n" % (url, SECRET))
        self.db_write("INSERT INTO serve_destinations (id, name, url, events, headers, secret, "
                      "active, created_at, updated_at, account_id) VALUES ('d0', 'off', "
                      "'%s/d0', '[\"events.created\"]', '{}', '%s', 0, 1, 1, 'a1000')"
                      % (url, SECRET))
        self.db_write("INSERT INTO serve_subscriptions (destination_id, event_type, account_id) "
                      "SELECT id, 'events.created', account_id FROM serve_destinations")
        self.db_write("INSERT INTO serve_events (id, type, body, created_at, account_id) "
                      "VALUES ('e0', 'events.created', '{}', 1, 'a1000')")
        self.db_write(GEN % 19999 + "INSERT INTO serve_webhooks (id, event_id, destination_id, "
                      "status, attempt_count, round_attempts, next_attempt_at, created_at, "
                      "updated_at, account_id) SELECT 'w' || (100000 + i), 'e0', 'd0', 'pending', "
                      "0, 0, 1, 1, 1, 'a1000' FROM n")

    def test_thousand_accounts_deliver(self):
        rec = self.recorder()
        # a long attempt timeout: on a busy machine the Python recorder may take seconds to
        # answer 200 connections, and a timed-out attempt is retried (at least once)
        p = self.start_serve(extra=["--timeout", "30s"])
        self.crowd(rec.url)
        # events of 20 accounts spread over the id range, posted back to back
        accounts = [1000 + 50 * k for k in range(20)]
        want = set()
        start = time.monotonic()
        for a in accounts:
            ev = self.event(p, headers={"X-Account-Id": "a%d" % a})
            dests = {"d%d" % (10000 + (a - 1000) * 10 + i) for i in range(10)}
            self.assertEqual({w["destination_id"] for w in ev["webhooks"]}, dests)
            want |= {(d, ev["id"]) for d in dests}
        harness.wait_until(lambda: rec.count() >= len(want), timeout=30,
                           what="200 webhooks delivered")
        took = time.monotonic() - start
        time.sleep(0.3)  # a duplicate would arrive now
        got = [(r["path"].rsplit("/", 1)[-1], json.loads(r["body"])["event"]) for r in rec.requests]
        self.assertEqual(len(got), len(want))  # once each
        self.assertEqual({(d, "events.created") for d, _ in want}, set(got))
        rows = self.db.query("SELECT destination_id, event_id, status FROM serve_webhooks "
                             "WHERE destination_id <> 'd0'")
        self.assertEqual({(r[0], r[1]) for r in rows}, want)
        self.assertEqual({r[2] for r in rows}, {"succeeded"})
        backlog = self.db.query("SELECT COUNT(*) FROM serve_webhooks WHERE destination_id = 'd0' "
                                "AND status = 'pending' AND lease_until IS NULL")
        self.assertEqual(backlog[0][0], "20000")
        self.assertFalse(any(r["path"].endswith("/d0") for r in rec.requests))
        print("200 webhooks of 20 accounts among 10,000 destinations: %.0f ms" % (took * 1000))

    def test_engine_log_names_the_account(self):
        """A webhook whose lease is lost while its attempt runs (its destination deleted):
        the engine's line about it names the account and the webhook."""
        rec = self.recorder(lambda req: (200, {}, b"ok", 1.5))
        p = self.start_serve()
        self.ok(p, "POST", "/v1/accounts", {"id": "acme", "name": "Acme"}, status=201)
        h = {"X-Account-Id": "acme"}
        d = self.ok(p, "POST", "/v1/destinations",
                    {"name": "slow", "url": rec.url, "events": ["events.created"]}, 201, h)
        self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"], headers=h)
        wid = self.event(p, headers=h)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, what="the attempt under way")
        self.ok(p, "DELETE", "/v1/destinations/" + d["id"], status=204, headers=h)
        line = "account acme webhook %s: lease lost" % wid
        harness.wait_until(lambda: line in p.output(), timeout=10, what="the lease-lost line")


if __name__ == "__main__":
    harness.main()
