"""test_receive_handler.py — `hookd receive` hands each accepted webhook to the owner's
handler (--exec or --forward) asynchronously, retries failures, kills what runs too long,
and shows it all on its admin API.
HOOKD_BACKENDS: sqlite postgres
"""
import json
import os
import time
import uuid

import harness

SECRET = "whsec_handler_tests"


def envelope(n):
    return '{"event":"events.updated","data":{"id":%d,"calendar_id":9}}' % n


class ReceiveHandler(harness.TestCase):
    def start(self, handler_args, extra=None):
        self.port = harness.free_port()
        self.admin = harness.free_port()
        self.db = self.database()
        args = ["receive", "--listen", "127.0.0.1:%d" % self.port,
                "--admin-listen", "127.0.0.1:%d" % self.admin, "--db", self.db.url,
                "--secret", SECRET] + list(handler_args) + list(extra or [])
        p = self.hookd(args, wait_port=self.port)
        p.wait_listening(self.admin)
        return p

    def send(self, body, wid=None):
        wid = wid or str(uuid.uuid4())
        status, _, data = harness.request("POST", self.port, "/", body,
                                          harness.signed_headers(SECRET, body, wid=wid))
        self.assertEqual(status, 200, data)
        return wid, json.loads(data)

    def webhook(self, wid):
        status, out = harness.json_request("GET", self.admin, "/webhooks/" + wid)
        self.assertEqual(status, 200, out)
        return out

    def wait_status(self, wid, status, timeout=10):
        return harness.wait_until(
            lambda: (lambda w: w if w["status"] == status else None)(self.webhook(wid)),
            timeout, what="webhook %s %s" % (wid, status))

    def path(self, name):
        return os.path.join(self.tmp, name)

    def lines(self, name):
        try:
            with open(self.path(name)) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def test_answer_comes_before_a_slow_handler_ends(self):
        self.start(["--exec", 'sleep 3; echo "$WEBHOOK_ID" >> %s' % self.path("done")])
        t0 = time.monotonic()
        wid, out = self.send(envelope(1))
        elapsed = time.monotonic() - t0
        self.assertEqual(out, {"status": "accepted"})
        self.assertLess(elapsed, 1.5, "the 200 waited for the handler")
        self.assertEqual(self.lines("done"), [])
        harness.wait_until(lambda: self.lines("done") == [wid], 10, what="slow handler ended")

    def test_handler_sees_body_and_environment(self):
        out = self.path("out")
        os.mkdir(out)
        self.start(["--exec", 'cat > %s/"$WEBHOOK_ID".body && '
                              'env | grep "^WEBHOOK_" | sort > %s/"$WEBHOOK_ID".env' % (out, out)])
        body = envelope(42)
        ts = harness.now_ts(-1)
        wid = str(uuid.uuid4())
        status, _, data = harness.request("POST", self.port, "/", body,
                                          harness.signed_headers(SECRET, body, wid=wid, ts=ts))
        self.assertEqual(status, 200, data)
        self.wait_status(wid, "done")
        with open(os.path.join(out, wid + ".body"), "rb") as f:
            self.assertEqual(f.read(), body.encode())
        with open(os.path.join(out, wid + ".env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(env, {"WEBHOOK_ID": wid, "WEBHOOK_EVENT": "events.updated",
                               "WEBHOOK_TIMESTAMP": ts})

    def test_failing_twice_then_succeeding(self):
        count = self.path("count")
        script = ('n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; '
                  '[ "$n" -ge 3 ]' % (count, count))
        self.start(["--exec", script, "--retry-delays", "100ms"])
        wid, _ = self.send(envelope(2))
        w = self.wait_status(wid, "done")
        self.assertEqual([r["n"] for r in w["runs"]], [1, 2, 3])
        self.assertEqual([r["exit_status"] for r in w["runs"]], [1, 1, 0])
        self.assertIsNotNone(w["runs"][0]["error"])
        self.assertIsNone(w["runs"][2]["error"])
        with open(count) as f:
            self.assertEqual(f.read().strip(), "3")

    def test_gives_up_after_max_attempts_and_retry_by_hand(self):
        flag = self.path("ok")
        self.start(["--exec", "test -e %s" % flag, "--retry-delays", "50ms",
                    "--max-attempts", "3"])
        wid, _ = self.send(envelope(3))
        w = self.wait_status(wid, "failed")
        self.assertEqual(len(w["runs"]), 3)
        time.sleep(0.3)
        self.assertEqual(len(self.webhook(wid)["runs"]), 3, "ran again after failing")
        status, out = harness.json_request("GET", self.admin, "/webhooks?status=failed")
        self.assertEqual(status, 200)
        self.assertEqual([x["id"] for x in out["data"]], [wid])
        # the owner fixes the handler and retries by hand
        open(flag, "w").close()
        status, out = harness.json_request("POST", self.admin, "/webhooks/%s/retry" % wid)
        self.assertEqual(status, 202, out)
        w = self.wait_status(wid, "done")
        self.assertEqual(len(w["runs"]), 4)
        self.assertEqual(w["runs"][3]["exit_status"], 0)

    def test_timeout_kills_the_handler_and_retries(self):
        count = self.path("count")
        pids = self.path("pids")
        script = ('echo $$ >> %s; n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); '
                  'echo $n > %s; if [ "$n" -eq 1 ]; then sleep 60; fi' % (pids, count, count))
        self.start(["--exec", script, "--handler-timeout", "500ms", "--retry-delays", "100ms"])
        t0 = time.monotonic()
        wid, _ = self.send(envelope(4))
        w = self.wait_status(wid, "done", timeout=10)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(len(w["runs"]), 2)
        self.assertIn("timed out", w["runs"][0]["error"])
        first = int(self.lines("pids")[0])
        harness.wait_until(lambda: not os.path.exists("/proc/%d" % first), 5,
                           what="the timed-out handler to be gone")

    def test_forward_to_a_url(self):
        rec = self.recorder()
        self.start(["--forward", rec.url])
        body = envelope(5)
        headers = harness.signed_headers(SECRET, body)
        status, _, _ = harness.request("POST", self.port, "/", body, headers)
        self.assertEqual(status, 200)
        harness.wait_until(lambda: rec.count() == 1, what="forwarded")
        got = rec.received()[0]
        self.assertEqual(got["method"], "POST")
        self.assertEqual(got["path"], "/hook")
        self.assertEqual(got["body"], body.encode())
        for name in ("X-Webhook-Id", "X-Webhook-Timestamp", "X-Webhook-Signature"):
            self.assertEqual(got["headers"][name.lower()], headers[name])
        self.assertEqual(got["headers"]["x-webhook-event"], "events.updated")
        wid = headers["X-Webhook-Id"]
        w = self.wait_status(wid, "done")
        self.assertEqual(w["runs"][0]["http_status"], 200)

    def test_forward_retries_non_2xx(self):
        rec = self.recorder(lambda req: ((503 if req["n"] < 3 else 204), {}, b"", 0))
        self.start(["--forward", rec.url, "--retry-delays", "100ms"])
        wid, _ = self.send(envelope(6))
        w = self.wait_status(wid, "done")
        self.assertEqual([r["http_status"] for r in w["runs"]], [503, 503, 204])
        self.assertEqual(rec.count(), 3)

    def test_workers_bound_concurrency(self):
        running = self.path("running")
        peak = self.path("peak")
        # each run notes how many run at once (under flock) and stays a moment
        script = ('exec 9>>%s.lock; flock 9; n=$(( $(cat %s 2>/dev/null || echo 0) + 1 )); '
                  'echo $n > %s; echo $n >> %s; flock -u 9; sleep 0.3; flock 9; '
                  'echo $(( $(cat %s) - 1 )) > %s; echo "$WEBHOOK_ID" >> %s.done'
                  % (running, running, running, peak, running, running, running))
        self.start(["--exec", script, "--workers", "2"])
        ids = [self.send(envelope(10 + i))[0] for i in range(6)]
        harness.wait_until(lambda: len(self.lines("running.done")) == 6, 15,
                           what="six runs")
        self.assertEqual(sorted(self.lines("running.done")), sorted(ids))
        self.assertLessEqual(max(int(x) for x in self.lines("peak")), 2)

    def test_retention_purges_finished_webhooks(self):
        self.start(["--exec", "cat > /dev/null", "--retention", "1s"])
        wid, _ = self.send(envelope(30))
        self.wait_status(wid, "done")
        harness.wait_until(lambda: harness.json_request(
            "GET", self.admin, "/webhooks/" + wid)[0] == 404, 10, what="purged")
        self.assertEqual(self.db.query("SELECT COUNT(*) FROM receive_run_history"), [["0"]])

    def test_admin_api(self):
        self.start(["--exec", "cat > /dev/null"])
        status, out = harness.json_request("GET", self.admin, "/healthz")
        self.assertEqual((status, out), (200, {"status": "ok"}))
        ids = [self.send(envelope(20 + i))[0] for i in range(3)]
        for wid in ids:
            self.wait_status(wid, "done")
        status, out = harness.json_request("GET", self.admin, "/webhooks?status=done&limit=2")
        self.assertEqual(status, 200, out)
        page1 = [x["id"] for x in out["data"]]
        self.assertEqual(len(page1), 2)
        self.assertEqual(out["next"], page1[-1])
        status, out2 = harness.json_request(
            "GET", self.admin, "/webhooks?status=done&limit=2&after=" + out["next"])
        page2 = [x["id"] for x in out2["data"]]
        self.assertEqual(sorted(page1 + page2), sorted(ids))
        self.assertIsNone(out2["next"])
        status, out = harness.json_request("GET", self.admin, "/webhooks?status=pending")
        self.assertEqual(out["data"], [])
        # a malformed query parameter is 400 invalid_parameter, as on the sender's API
        for query in ("status=bogus", "limit=0", "limit=1001", "limit=x"):
            status, out = harness.json_request("GET", self.admin, "/webhooks?" + query)
            self.assertEqual((status, out["error"]["code"]), (400, "invalid_parameter"), query)
        w = self.webhook(ids[0])
        self.assertEqual(w["event"], "events.updated")
        self.assertEqual(w["body"], envelope(20))
        run = w["runs"][0]
        for key in ("n", "started_at", "duration_ms", "exit_status", "http_status", "error"):
            self.assertIn(key, run)
        # times are ISO 8601 UTC with milliseconds, as on the sender's API
        iso_ms = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
        self.assertRegex(run["started_at"], iso_ms)
        self.assertRegex(w["received_at"], iso_ms)
        self.assertIsNone(w["next_attempt_at"])
        self.assertEqual((run["exit_status"], run["http_status"]), (0, None))
        self.assertIsInstance(run["duration_ms"], int)
        status, out = harness.json_request("GET", self.admin, "/webhooks/" + ids[0] + "/retry")
        self.assertEqual((status, out["error"]["code"]), (405, "method_not_allowed"))
        status, out = harness.json_request("GET", self.admin, "/webhooks/" + str(uuid.uuid4()))
        self.assertEqual(status, 404)
        status, out = harness.json_request("POST", self.admin,
                                           "/webhooks/%s/retry" % uuid.uuid4())
        self.assertEqual(status, 404)
        status, out = harness.json_request("POST", self.admin, "/webhooks/%s/retry" % ids[0])
        self.assertEqual(status, 202, out)
        harness.wait_until(lambda: len(self.webhook(ids[0])["runs"]) == 2
                           and self.webhook(ids[0])["status"] == "done", what="retried")
        status, _, text = harness.request("GET", self.admin, "/metrics")
        text = text.decode()
        self.assertEqual(status, 200)
        self.assertIn("hookd_receive_accepted_total 3", text)
        self.assertIn('hookd_receive_handler_runs_total{result="success"} 4', text)
        self.assertIn("hookd_receive_pending 0", text)
        self.assertIn("hookd_receive_handler_duration_ms_bucket", text)
        self.assertIn("hookd_receive_duplicates_total 0", text)


if __name__ == "__main__":
    harness.main()
