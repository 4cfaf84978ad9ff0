"""test_bench_smoke.py — every bench/*.sh scenario, once, in SMOKE=1 mode (a few seconds
each).
HOOKD_BACKENDS: none

Each must print its Markdown table and every correctness CHECK inside it (durability,
counts: every 2XX stored, every webhook delivered) must hold. Performance TARGET lines are
not judged here: tiny runs on a shared machine say nothing about speed. The scenarios run
three at a time (longest first), started together when the class is set up, so that the
file stays under a minute; each test then waits for its own. The postgres
scenario starts its own throwaway server (scripts/pg-test.sh) and is skipped where no
PostgreSQL server is installed; burst and sender_throughput run on PostgreSQL as well where
one is installed, and on SQLite alone where not.
"""
import concurrent.futures
import glob
import os
import shutil
import subprocess
import unittest

import harness

ROOT = os.environ.get("HOOKD_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
BENCH = os.path.join(ROOT, "bench")
# Longest first: the three workers then finish at about the same time.
SCENARIOS = ["postgres", "sender_throughput", "burst", "isolation", "backlog", "sender_latency",
             "receiver_ingest", "fanout", "fanout_accounts"]
TOOLS = ["wrk", "nginx"]
HAVE_POSTGRES = bool(shutil.which("psql") and glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def run_scenario(name):
    """(exit code, output) of bench/NAME.sh in SMOKE mode."""
    env = dict(os.environ, SMOKE="1", HOOKD_BIN=os.path.abspath(harness.HOOKD))
    p = subprocess.run(["sh", os.path.join(BENCH, name + ".sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    return p.returncode, p.stdout.decode(errors="replace")


@unittest.skipUnless(all(shutil.which(t) for t in TOOLS),
                     "wrk and nginx are needed (scripts/deps.sh installs them)")
class BenchSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
        cls.runs = {name: cls.pool.submit(run_scenario, name) for name in SCENARIOS
                    if name != "postgres" or HAVE_POSTGRES}

    @classmethod
    def tearDownClass(cls):
        cls.pool.shutdown(wait=True)

    def run_scenario(self, name):
        returncode, out = self.runs[name].result()
        lines = out.splitlines()
        self.assertTrue(any(line.startswith("|---") for line in lines),
                        "%s printed no table:\n%s" % (name, out))
        checks = [line for line in lines if line.startswith("CHECK ")]
        self.assertTrue(checks, "%s made no checks:\n%s" % (name, out))
        failed = [line for line in checks if not line.startswith("CHECK ok:")]
        self.assertEqual(failed, [], "%s:\n%s" % (name, out))
        self.assertEqual(returncode, 0, "%s exited %d:\n%s" % (name, returncode, out))
        self.assertTrue(any(line.startswith("TARGET ") for line in lines),
                        "%s judged no target:\n%s" % (name, out))

    def test_burst(self):
        self.run_scenario("burst")

    def test_receiver_ingest(self):
        self.run_scenario("receiver_ingest")

    def test_sender_throughput(self):
        self.run_scenario("sender_throughput")

    def test_fanout(self):
        self.run_scenario("fanout")

    def test_fanout_accounts(self):
        self.run_scenario("fanout_accounts")

    def test_isolation(self):
        self.run_scenario("isolation")

    def test_sender_latency(self):
        self.run_scenario("sender_latency")

    def test_backlog(self):
        self.run_scenario("backlog")

    @unittest.skipUnless(HAVE_POSTGRES,
                         "PostgreSQL (server and psql) is needed for the postgres scenario")
    def test_postgres(self):
        self.run_scenario("postgres")


if __name__ == "__main__":
    harness.main()
