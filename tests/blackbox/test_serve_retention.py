"""test_serve_retention.py — `hookd serve --retention D` (issue 16): finished webhooks, their
attempts and their events disappear once older than D, as the API shows; pending ones stay,
and so does the event they belong to; a purge of many old rows runs in batches while
deliveries keep flowing; 0 keeps everything.
HOOKD_BACKENDS: sqlite postgres
"""
import time

import harness
from serve_support import ServeCase

OLD = 5000  # old finished webhooks seeded for the purge under load


class RetentionTest(ServeCase):
    def gone(self, p, path, timeout=15.0):
        harness.wait_until(lambda: self.api(p, "GET", path)[0] == 404, timeout,
                           interval=0.1, what="%s to be purged" % path)

    def test_finished_go_pending_stay(self):
        ok = self.recorder()
        down = self.recorder(lambda req: (500, {}, b"", 0))
        p = self.start_serve(["--retention", "2s", "--retry-delays", "1h"], fast=False)
        self.destination(p, ok.url, events=["events.created"])
        self.destination(p, down.url, events=["events.updated", "events.created"])
        both = self.event(p)  # one webhook succeeds, the other waits an hour to retry
        ids = {w["destination_id"]: w["id"] for w in both["webhooks"]}
        ok_dest = [d for d in self.ok(p, "GET", "/v1/destinations")["data"]
                   if d["url"] == ok.url][0]["id"]
        done = ids.pop(ok_dest)
        [waiting] = ids.values()
        self.wait_status(p, done, "succeeded")
        harness.wait_until(lambda: self.webhook(p, waiting)["attempt_count"] == 1, 10.0,
                           what="the first attempt of the failing webhook")
        only_ok = self.ok(p, "POST", "/v1/events",
                          {"event": "events.deleted", "data": {"id": 1, "calendar_id": 2}},
                          status=202)  # no destination: an event without webhooks
        self.gone(p, "/v1/webhooks/" + done)
        self.gone(p, "/v1/events/" + only_ok["id"])
        # the retrying webhook stays, with its attempt, and so does its event
        w = self.webhook(p, waiting)
        self.assertEqual((w["status"], len(w["attempts"])), ("pending", 1))
        ev = self.ok(p, "GET", "/v1/events/" + both["id"])
        self.assertEqual([x["id"] for x in ev["webhooks"]], [waiting])
        left = self.db.query("SELECT COUNT(*) FROM serve_attempts")
        self.assertEqual(int(left[0][0]), 1)

    def test_zero_keeps_everything(self):
        ok = self.recorder()
        p = self.start_serve(["--retention", "0"])
        self.destination(p, ok.url)
        wid = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, wid, "succeeded")
        time.sleep(2.5)
        self.assertEqual(self.webhook(p, wid)["status"], "succeeded")

    def seed_old(self):
        """OLD finished webhooks with an attempt each, their events, and one old pending."""
        gen = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) " % OLD
        self.db_write(gen + "INSERT INTO serve_events (id, type, body, created_at, account_id) "
                      "SELECT 'old-e-' || i, 'events.created', '{}', 1000, 'default' FROM n")
        self.db_write(gen + "INSERT INTO serve_webhooks (id, event_id, destination_id, status, "
                      "attempt_count, round_attempts, created_at, updated_at, account_id) "
                      "SELECT 'old-w-' || i, 'old-e-' || i, 'gone', 'succeeded', 1, 1, 1000, "
                      "1000, 'default' FROM n")
        self.db_write(gen + "INSERT INTO serve_attempts (webhook_id, n, started_at, duration_ms, "
                      "status_code) SELECT 'old-w-' || i, 1, 1000, 5, 200 FROM n")
        self.db_write("UPDATE serve_webhooks SET status = 'pending', next_attempt_at = 1000 "
                      "WHERE id = 'old-w-7'")

    def count(self, table):
        return int(self.db.query("SELECT COUNT(*) FROM %s" % table)[0][0])

    def test_purge_in_batches_while_delivering(self):
        p = self.start_serve(["--retention", "0"])  # creates the tables
        self.assertEqual(p.terminate(), 0)
        self.seed_old()
        ok = self.recorder()
        p = self.start_serve(["--retention", "1h"], port=p.port)
        self.destination(p, ok.url)
        latencies = []
        old = "SELECT COUNT(*) FROM serve_webhooks WHERE id LIKE 'old-%'"
        while int(self.db.query(old)[0][0]) > 1 and len(latencies) < 300:
            sent = time.time()
            wid = self.event(p)["webhooks"][0]["id"]
            harness.wait_until(lambda: ok.count() > len(latencies), 10.0, interval=0.01,
                               what="webhook %s delivered" % wid)
            latencies.append(time.time() - sent)
        harness.wait_until(lambda: self.count("serve_attempts") <= 1 + len(latencies), 30.0,
                           interval=0.1, what="the old attempts to be purged")
        self.assertLess(max(latencies), 1.0)
        # the old pending webhook and its event stay; the rest of the old rows went
        self.assertEqual(self.db.query("SELECT id FROM serve_webhooks WHERE id LIKE 'old-%'"),
                         [["old-w-7"]])
        self.assertEqual(self.db.query("SELECT id FROM serve_events WHERE id LIKE 'old-%'"),
                         [["old-e-7"]])
        line = "retention: deleted %d finished webhooks and events" % (2 * (OLD - 1))
        harness.wait_until(lambda: line in p.output(), 10.0, what="the pass's log line")
        self.assertGreater(len(latencies), 1)  # deliveries ran while it purged


if __name__ == "__main__":
    harness.main()
