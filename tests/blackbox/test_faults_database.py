"""test_faults_database.py — a database that stops answering (issue 12).
HOOKD_BACKENDS: none

It never makes hookd wait without bound: start-up against a TCP listener that never speaks ends non-zero with a
clear message within seconds; a PostgreSQL frozen with SIGSTOP under load gets every
request answered (503 with Retry-After) within the answer bound; and afterwards every
acknowledged webhook is handled exactly once.

It starts a PostgreSQL of its own (scripts/pg-test.sh): freezing the suite's shared one
would stall the tests running beside it.
"""
import os
import json
import signal
import tempfile
import threading
import time

import faults
import harness
import serve_support

SECRET = "whsec_faults_database"


class SilentDatabase(harness.TestCase):

    def test_startup_against_a_silent_database_is_bounded(self):
        silent = faults.SilentListener()
        try:
            url = "postgres://u@127.0.0.1:%d/x?connect_timeout=2" % silent.port
            for args in (["serve", "--db", url, "--listen", "127.0.0.1:%d" % harness.free_port()],
                         ["receive", "--db", url, "--secret", SECRET, "--exec", "true",
                          "--listen", "127.0.0.1:%d" % harness.free_port(),
                          "--admin-listen", "127.0.0.1:%d" % harness.free_port()]):
                started = time.monotonic()
                code, _, err = self.run_hookd(args, timeout=30)
                took = time.monotonic() - started
                self.assertNotEqual(code, 0, err)
                self.assertIn("cannot connect", err)
                self.assertIn("timeout expired", err)
                self.assertLess(took, 10, err)
            # The default bound, with nothing in the URL: 5 s.
            started = time.monotonic()
            code, _, err = self.run_hookd(
                ["serve", "--db", "postgres://u@127.0.0.1:%d/x" % silent.port,
                 "--listen", "127.0.0.1:%d" % harness.free_port()], timeout=30)
            self.assertNotEqual(code, 0, err)
            self.assertLess(time.monotonic() - started, 10, err)
        finally:
            silent.close()


class OwnDatabase(serve_support.ServeCase):

    def setUp(self):
        super().setUp()
        self.pg = faults.OwnPostgres(tempfile.mkdtemp(prefix="hookd-faults-pg-"))

    def tearDown(self):
        super().tearDown()  # hookd first: it would log the database going away
        self.pg.close()

    def test_sigstop_under_load_answers_within_bound_and_loses_nothing(self):
        # statement_timeout=2s in the URL: the answer bound becomes 2 s + 5 s.
        url = self.pg.url("frozen", "?options=-c%20statement_timeout%3D2s")
        port, admin = harness.free_port(), harness.free_port()
        ran_path = os.path.join(self.tmp, "handled")
        self.hookd(faults.receive_args(port, admin, url, SECRET, ran_path), wait_port=port,
                   name="receive")
        load = faults.Load(port, SECRET, threads=4)
        time.sleep(1.0)
        self.pg.signal_all(signal.SIGSTOP)
        time.sleep(9.0)
        status, _ = harness.json_request("GET", admin, "/readyz", timeout=20)
        self.pg.signal_all(signal.SIGCONT)
        time.sleep(2.0)
        acked = load.stop()
        self.assertEqual(status, 503, "/readyz while the database is frozen")
        # Bound: 7 s for the statement, then a reconnect bounded by connect_timeout (5 s).
        self.assertLess(load.slowest, 15.0, "slowest answer")
        self.assertEqual(load.missing_retry_after, 0)
        self.assertGreater(len(acked), 0)
        harness.wait_until(lambda: set(faults.handled(ran_path)) >= set(acked), timeout=60,
                           what="every acknowledged webhook handled")
        time.sleep(0.5)
        _, lost, dup = faults.tally("pg-sigstop", acked, faults.handled(ran_path),
                                    backend="postgres",
                                    extra="; slowest answer %.1f s, refused %s" % (
                                        load.slowest, dict(load.refused)))
        self.assertEqual((lost, dup), (0, 0))

    def test_restart_and_stop_start_under_load_end_to_end(self):
        """serve → receive, both on the PostgreSQL that is restarted, then stopped for 3 s."""
        recv_port, recv_admin = harness.free_port(), harness.free_port()
        serve_db = harness.Database.__new__(harness.Database)
        serve_db.backend, serve_db.url = "postgres", self.pg.url("serve")
        p = self.start_serve(db=serve_db, fast=False,
                             extra=["--retry-delays", "200ms,500ms,1s", "--max-attempts", "60"])
        d = self.destination(p, "http://127.0.0.1:%d/" % recv_port)
        ran = os.path.join(self.tmp, "ran")
        handler = 'echo "$WEBHOOK_ID $(cat | tr -d \'\\n\')" >> %s' % ran
        self.hookd(["receive", "--listen", "127.0.0.1:%d" % recv_port, "--admin-listen",
                    "127.0.0.1:%d" % recv_admin, "--db", self.pg.url("receive"),
                    "--secret", d["secret"], "--exec", handler], wait_port=recv_port,
                   name="receive")
        acked, stop = [], threading.Event()

        def post():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    status, _ = self.api(p, "POST", "/v1/events", {
                        "event": "events.created", "data": {"id": n, "calendar_id": 2}})
                except OSError:
                    status = 0
                if status == 202:
                    acked.append(n)
                time.sleep(0.01 if status == 202 else 0.1)
        poster = threading.Thread(target=post, daemon=True)
        poster.start()
        time.sleep(1.5)
        self.pg.restart()
        time.sleep(1.5)
        self.pg.stop()
        time.sleep(3.0)
        self.pg.start()
        time.sleep(2.0)
        stop.set()
        poster.join(timeout=30)

        def handled():
            return [json.loads(line.partition(" ")[2])["data"]["id"]
                    for line in faults.handled(ran)]
        harness.wait_until(lambda: set(handled()) >= set(acked), timeout=60, interval=0.5,
                           what="every acknowledged event handled")
        time.sleep(1.0)
        _, lost, dup = faults.tally("pg-restart-stop-start", acked, handled(),
                                    backend="postgres")
        self.assertEqual((lost, dup), (0, 0))
        status, _ = harness.json_request("GET", recv_admin, "/readyz")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    harness.main()
