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
import signal
import tempfile
import time

import faults
import harness

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


class FrozenDatabase(harness.TestCase):

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


if __name__ == "__main__":
    harness.main()
