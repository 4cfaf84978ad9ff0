"""test_receive_handoff.py — webhooks that arrive while the handler has room are handed to it
as they are saved (no claim of their own): each is still handled exactly once, never before
its 2XX, and a kill -9 between the 2XX and the handler's end loses none and doubles none.
HOOKD_BACKENDS: sqlite postgres
"""
import json
import os
import threading
import time
import uuid

import harness

SECRET = "whsec_handoff"


def envelope(n):
    return '{"event":"events.created","data":{"id":%d,"calendar_id":1}}' % n


class ReceiveHandoff(harness.TestCase):
    def args(self, port, admin, db, handler, extra=None):
        return ["receive", "--listen", "127.0.0.1:%d" % port,
                "--admin-listen", "127.0.0.1:%d" % admin, "--db", db.url,
                "--secret", SECRET, "--workers", "4", "--exec", handler] + list(extra or [])

    def lines(self, path):
        try:
            with open(path) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def post(self, port, n, wid):
        body = envelope(n)
        status, _, data = harness.request("POST", port, "/", body,
                                          harness.signed_headers(SECRET, body, wid=wid))
        return status, (json.loads(data) if data else None)

    def post_many(self, port, ids):
        """Posts the ids from 8 threads; returns {id: answer status}."""
        answers, lock = {}, threading.Lock()

        def sender(part):
            for n, wid in part:
                status, _ = self.post(port, n, wid)
                with lock:
                    answers[wid] = status

        parts = [list(enumerate(ids))[t::8] for t in range(8)]
        threads = [threading.Thread(target=sender, args=(p,)) for p in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return answers

    def test_idle_handler_runs_each_webhook_once_after_its_2xx(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        handled = os.path.join(self.tmp, "handled")
        self.hookd(self.args(port, admin, db, 'echo "$WEBHOOK_ID" >> %s' % handled),
                   wait_port=port)
        time.sleep(0.5)  # the handler is idle: nothing pending
        ids = [str(uuid.uuid4()) for _ in range(60)]
        answers = self.post_many(port, ids)
        self.assertEqual(sorted(set(answers.values())), [200])
        harness.wait_until(lambda: len(self.lines(handled)) >= len(ids), 20,
                           what="every webhook handled")
        harness.wait_until(lambda: db.query(
            "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'done'")[0][0] == str(len(ids)),
            10, what="every webhook done")
        time.sleep(0.3)
        self.assertEqual(sorted(self.lines(handled)), sorted(ids))  # once each
        self.assertEqual(db.query("SELECT COUNT(*) FROM receive_run_history")[0][0], str(len(ids)))
        self.assertEqual(db.query(
            "SELECT COUNT(*) FROM receive_webhooks WHERE lease_owner IS NOT NULL"
            " OR lease_token IS NOT NULL OR lease_until IS NOT NULL")[0][0], "0")

        # The same ids again: duplicates, answered 200 and not handled again; new ones after
        # them still run (the room the duplicates were given is free again).
        again = self.post_many(port, ids[:20])
        self.assertEqual(sorted(set(again.values())), [200])
        more = [str(uuid.uuid4()) for _ in range(10)]
        self.post_many(port, more)
        harness.wait_until(lambda: len(self.lines(handled)) >= len(ids) + len(more), 20,
                           what="the new webhooks handled")
        time.sleep(0.3)
        self.assertEqual(sorted(self.lines(handled)), sorted(ids + more))
        status, body = harness.json_request("GET", admin, "/webhooks/" + ids[0])
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "done")
        self.assertEqual(len(body["runs"]), 1)

    def test_kill9_after_2xx_before_handled_runs_once_after_restart(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        started = os.path.join(self.tmp, "started")
        handled = os.path.join(self.tmp, "handled")
        # Slow runs: the process is killed while they are under way (their shells die with
        # it), after every webhook got its 2XX.
        slow = 'echo "$WEBHOOK_ID" >> %s; sleep 3; echo "$WEBHOOK_ID" >> %s' % (started, handled)
        # A long lease: only the restart's release can make them due again in time.
        p = self.hookd(self.args(port, admin, db, slow, ["--lease", "120s"]), wait_port=port)
        time.sleep(0.5)
        ids = [str(uuid.uuid4()) for _ in range(4)]
        answers = self.post_many(port, ids)
        self.assertEqual(sorted(set(answers.values())), [200])
        harness.wait_until(lambda: len(self.lines(started)) == len(ids), 10,
                           what="the runs started")
        p.kill9()
        self.assertEqual(self.lines(handled), [])
        # Saved, pending and leased to the dead process.
        self.assertEqual(db.query(
            "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'pending'"
            " AND lease_owner IS NOT NULL")[0][0], str(len(ids)))

        fast = 'echo "$WEBHOOK_ID" >> %s' % handled
        began = time.time()
        self.hookd(self.args(port, admin, db, fast, ["--lease", "120s"]), wait_port=port,
                   name="restarted")
        harness.wait_until(lambda: len(self.lines(handled)) >= len(ids), 30,
                           what="every webhook handled after the restart")
        self.assertLess(time.time() - began, 60, "waited for the lease instead")
        harness.wait_until(lambda: db.query(
            "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'done'")[0][0] == str(len(ids)),
            10, what="every webhook done")
        time.sleep(0.3)
        self.assertEqual(sorted(self.lines(handled)), sorted(ids))  # exactly once each


if __name__ == "__main__":
    harness.main()
