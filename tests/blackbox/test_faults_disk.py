"""test_faults_disk.py — disk full under SQLite, on each side (issue 12).
HOOKD_BACKENDS: sqlite

The database lives on a small tmpfs (mount needs root: CI runs as root; elsewhere the test
is skipped and says so). Under load the disk fills: requests get 503 with Retry-After,
/readyz says "disk full", nothing acknowledged is lost and nothing runs twice; once the
tmpfs is made larger, hookd goes on without a restart and every acknowledged webhook is
handled (receiver) or delivered (sender) exactly once.
"""
import json
import os
import subprocess
import time

import faults
import harness
import serve_support

SECRET = "whsec_faults_disk"
PAD = "x" * 1000  # fills the 2 MiB disk in a few hundred webhooks


def padded(n):
    return '{"event":"events.created","data":{"id":%d,"calendar_id":2,"pad":"%s"}}' % (n, PAD)


class DiskFull(serve_support.ServeCase):

    def setUp(self):
        super().setUp()
        if os.getuid() != 0:
            self.skipTest("mounting a tmpfs needs root (CI runs as root)")
        self.disk = os.path.join(self.tmp, "disk")
        os.mkdir(self.disk)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.disk],
                       check=True, timeout=30)

    def tearDown(self):
        for p in self._procs:  # hookd first: the tmpfs is busy while it runs
            p.stop()
        subprocess.run(["umount", "-l", self.disk], timeout=30)
        super().tearDown()

    def grow(self):
        subprocess.run(["mount", "-o", "remount,size=64m", self.disk], check=True, timeout=30)

    def ready(self, port):
        status, body = harness.json_request("GET", port, "/readyz", timeout=20)
        return status, body

    def test_receiver_disk_full(self):
        port, admin = harness.free_port(), harness.free_port()
        url = "sqlite:" + os.path.join(self.disk, "inbox.db")
        ran = os.path.join(self.tmp, "ran")
        # Runs take 0.3 s: many end while the disk is full, their outcomes refused.
        # --min-free-disk 0: the disk really fills (the default headroom would refuse first).
        args = faults.receive_args(port, admin, url, SECRET, ran)
        args[-1] = "sleep 0.3; " + args[-1]
        args += ["--min-free-disk", "0"]
        self.hookd(args, wait_port=port, name="receive")
        acked, refused, missing_retry_after = [], 0, 0
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline and refused < 20:
            n += 1
            wid = "disk-%d" % n
            body = padded(n)
            status, headers, _ = harness.request(
                "POST", port, "/", body, harness.signed_headers(SECRET, body, wid=wid),
                timeout=30)
            if status == 200:
                acked.append(wid)
            else:
                self.assertEqual(status, 503)
                refused += 1
                missing_retry_after += not any(k.lower() == "retry-after" for k in headers)
        self.assertGreaterEqual(refused, 20, "the disk never filled")
        self.assertEqual(missing_retry_after, 0)
        status, body = self.ready(admin)
        self.assertEqual(status, 503, body)
        self.assertIn("disk full", body["reason"])
        self.assertEqual(self.ready(port)[0], 503)  # the public port says the same
        time.sleep(3.0)  # runs end meanwhile: their outcomes are refused, kept, retried
        self.grow()
        harness.wait_until(lambda: self.ready(admin)[0] == 200, timeout=20,
                           what="/readyz once the disk has room")
        harness.wait_until(lambda: set(faults.handled(ran)) >= set(acked), timeout=60,
                           what="every acknowledged webhook handled")
        time.sleep(1.0)
        _, lost, dup = faults.tally("disk-full-receive", acked, faults.handled(ran),
                                    extra="; refused %d" % refused)
        self.assertEqual((lost, dup), (0, 0))
        out = self._procs[0].output()
        self.assertIn("disk full", out)
        # Every run is in the history, once.
        runs = harness.Database.__new__(harness.Database)
        runs.backend, runs.path = "sqlite", url[len("sqlite:"):]
        self.assertEqual(runs.query("SELECT COUNT(*), COUNT(DISTINCT webhook_id) FROM "
                                    "receive_run_history"), [[str(len(acked))] * 2])

    def test_sender_disk_full(self):
        # Answers take 0.3 s: many attempts end while the disk is full.
        rec = self.recorder(lambda req: (200, {}, b"ok", 0.3))
        db = harness.Database(self.disk)
        db.path = os.path.join(self.disk, "serve.db")
        db.url = "sqlite:" + db.path
        db.backend = "sqlite"
        p = self.start_serve(db=db)
        self.destination(p, rec.url)
        acked, refused = [], 0
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline and refused < 20:
            n += 1
            status, out = self.api(p, "POST", "/v1/events",
                                   {"event": "events.created", "data": {"id": n, "calendar_id": 2, "pad": PAD}})
            if status == 202:
                acked.append(n)
            else:
                self.assertEqual(status, 503, out)
                refused += 1
        self.assertGreaterEqual(refused, 20, "the disk never filled")
        status, body = self.ready(p.port)
        self.assertEqual(status, 503, body)
        self.assertIn("disk full", body["reason"])
        time.sleep(3.0)  # attempts end meanwhile: their outcomes are refused, kept, retried
        self.grow()
        harness.wait_until(lambda: self.ready(p.port)[0] == 200, timeout=20,
                           what="/readyz once the disk has room")

        def delivered():
            return [json.loads(r["body"])["data"]["id"] for r in rec.received()]
        harness.wait_until(lambda: set(delivered()) >= set(acked), timeout=60,
                           what="every acknowledged event delivered")
        time.sleep(1.0)
        # Every attempt is in the history: one succeeded attempt per webhook.
        ids = [r["headers"]["x-webhook-id"] for r in rec.received()]
        _, lost, dup = faults.tally("disk-full-serve", acked, delivered(),
                                    extra="; refused %d, deliveries %d for %d webhooks" % (
                                        refused, len(ids), len(set(ids))))
        self.assertEqual((lost, dup), (0, 0))
        self.assertEqual(db.query("SELECT COUNT(*) FROM serve_attempts"), [[str(len(ids))]])


if __name__ == "__main__":
    harness.main()
