"""test_faults_stderr.py — handler output and a stalled log reader (issue 12).
HOOKD_BACKENDS: sqlite postgres

An --exec handler's stdout and stderr are kept with its run (the last 4 KiB, in the admin
API's run objects as `output`), never written to hookd's own stderr. And a hookd whose
stderr pipe nobody reads keeps answering: webhooks, the admin API, handler runs.
"""
import os
import subprocess
import time

import faults
import harness

SECRET = "whsec_faults_stderr"


class HandlerOutput(harness.TestCase):

    def test_output_is_kept_with_the_run_not_in_the_log(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        # 10,000 lines to stdout, then a last line to stderr: only the tail is kept.
        handler = ('i=0; while [ $i -lt 10000 ]; do echo "line $i"; i=$((i+1)); done; '
                   'echo "the end $WEBHOOK_ID" >&2')
        p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
                        "127.0.0.1:%d" % admin, "--db", db.url, "--secret", SECRET,
                        "--exec", handler], wait_port=port)
        status, _, _ = harness.request("POST", port, "/", faults.BODY,
                                       harness.signed_headers(SECRET, faults.BODY, wid="out-1"))
        self.assertEqual(status, 200)

        def run():
            _, w = harness.json_request("GET", admin, "/webhooks/out-1")
            return w["runs"][0] if w and w.get("runs") else None
        r = harness.wait_until(run, timeout=20, what="the run recorded")
        self.assertTrue(r["output"].endswith("line 9999\nthe end out-1\n"), r["output"][-100:])
        self.assertLessEqual(len(r["output"].encode()), 4096)
        self.assertNotIn("line 9999", p.output())


class StalledStderr(harness.TestCase):

    def test_unread_stderr_does_not_stall_hookd(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        ran = os.path.join(self.tmp, "ran")
        # Each run writes 100 KiB (more than a pipe holds) and fails once, which hookd logs.
        handler = ('head -c 100000 /dev/zero | tr "\\0" x; '
                   'if grep -qx "$WEBHOOK_ID" {f} 2>/dev/null; then echo "$WEBHOOK_ID" >> {r}; '
                   'exit 0; fi; echo "$WEBHOOK_ID" >> {f}; exit 1').format(f=ran + ".first", r=ran)
        args = [harness.HOOKD, "receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
                "127.0.0.1:%d" % admin, "--db", db.url, "--secret", SECRET,
                "--retry-delays", "100ms", "--exec", handler]
        env = dict(os.environ, HOOKD_LOG_LEVEL="debug")
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            def up():
                try:
                    return harness.request("GET", admin, "/healthz", timeout=2)[0] == 200
                except OSError:
                    return False
            harness.wait_until(up, timeout=15, what="hookd up")
            acked = []
            started = time.monotonic()
            for n in range(200):
                wid = "stall-%d" % n
                status, _, _ = harness.request(
                    "POST", port, "/", faults.BODY,
                    harness.signed_headers(SECRET, faults.BODY, wid=wid), timeout=10)
                self.assertEqual(status, 200)
                acked.append(wid)
            self.assertLess(time.monotonic() - started, 30)
            harness.wait_until(lambda: set(faults.handled(ran)) >= set(acked), timeout=60,
                               what="every webhook handled (a failed run, then a good one)")
            self.assertEqual(harness.request("GET", admin, "/healthz", timeout=5)[0], 200)
            _, lost, dup = faults.tally("stalled-stderr", acked, faults.handled(ran))
            self.assertEqual((lost, dup), (0, 0))
        finally:
            proc.kill()
            proc.wait(timeout=10)


if __name__ == "__main__":
    harness.main()
