"""test_serve_store_failure.py — when the store cannot save, `hookd serve` answers 503 with the
JSON error and writes nothing; the application's retry with the same Idempotency-Key then
creates the event once.
HOOKD_BACKENDS: sqlite

The store is made unable to write the way it happens in production: another process holds
the SQLite write lock longer than hookd's busy timeout (5 s).
"""
import json
import sqlite3

import harness
from serve_support import ServeCase


class ServeStoreFailure(ServeCase):

    def test_locked_store_answers_503_and_writes_nothing(self):
        rec = self.recorder()
        p = self.start_serve()
        self.destination(p, rec.url)
        blocker = sqlite3.connect(self.db.path, timeout=30, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            status, headers, data = harness.request(
                "POST", p.port, "/v1/events",
                {"event": "events.created", "data": {"id": 1, "calendar_id": 2}},
                {"Idempotency-Key": "order-42", "Authorization": "Bearer " + p.token})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        # the one dialect's store failure: 503 store_unavailable, with Retry-After
        self.assertEqual(status, 503, data)
        self.assertEqual(json.loads(data)["error"]["code"], "store_unavailable")
        self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        self.assertEqual(self.db.query("SELECT COUNT(*) FROM serve_events")[0][0], "0")
        self.assertEqual(self.db.query("SELECT COUNT(*) FROM serve_webhooks")[0][0], "0")

        first = self.event(p, headers={"Idempotency-Key": "order-42"})
        again = self.event(p, headers={"Idempotency-Key": "order-42"})
        self.assertEqual(first, again)
        self.assertEqual(self.db.query("SELECT COUNT(*) FROM serve_events")[0][0], "1")
        harness.wait_until(lambda: rec.count() == 1, what="the one delivery")


if __name__ == "__main__":
    harness.main()
