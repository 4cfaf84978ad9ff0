"""test_receive_store_failure.py — when the store cannot save, `hookd receive` answers 503 and
saves nothing, so the sender retries; once the store is back, the same webhook is accepted.
HOOKD_BACKENDS: sqlite

The store is made unable to write the way it happens in production: another process holds
the SQLite write lock longer than hookd's busy timeout (5 s).
"""
import json
import os
import sqlite3
import time
import uuid

import harness

SECRET = "whsec_store_failure_test"
BODY = '{"event":"events.created","data":{"id":1,"calendar_id":2}}'


class ReceiveStoreFailure(harness.TestCase):

    def test_locked_store_answers_503_and_saves_nothing(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        handled = os.path.join(self.tmp, "handled")
        self.hookd(["receive", "--listen", "127.0.0.1:%d" % port,
                    "--admin-listen", "127.0.0.1:%d" % admin, "--db", db.url,
                    "--secret", SECRET, "--exec", 'echo "$WEBHOOK_ID" >> %s' % handled],
                   wait_port=port)
        wid = str(uuid.uuid4())

        blocker = sqlite3.connect(db.path, timeout=30, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            status, _, data = harness.request("POST", port, "/", BODY,
                                              harness.signed_headers(SECRET, BODY, wid=wid),
                                              timeout=30)
            waited = time.monotonic() - started
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        self.assertEqual(status, 503, data)
        self.assertEqual(json.loads(data)["error"]["code"], "store_unavailable")
        self.assertLess(waited, 20)
        self.assertEqual(db.query("SELECT COUNT(*) FROM receive_webhooks")[0][0], "0")

        # The sender's retry (same id, fresh timestamp and signature) is now accepted, once.
        status, _, data = harness.request("POST", port, "/", BODY,
                                          harness.signed_headers(SECRET, BODY, wid=wid))
        self.assertEqual((status, json.loads(data)), (200, {"status": "accepted"}))
        def lines():
            if not os.path.exists(handled):
                return []
            with open(handled) as f:
                return f.read().split()
        # the shell creates the file before echo writes into it: wait for the line itself
        harness.wait_until(lambda: lines(), what="the handler run")
        time.sleep(0.5)  # room for a second run, which must not come
        self.assertEqual(lines(), [wid])


if __name__ == "__main__":
    harness.main()
