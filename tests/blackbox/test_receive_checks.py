"""test_receive_checks.py — `hookd receive` refuses what SPEC §4 says it must, with the
status it says, and accepts the rest exactly once.
HOOKD_BACKENDS: sqlite postgres

Every request here is built and signed by the test itself (harness.sign, Python's hmac), so
the receiver is checked against an independent implementation of the protocol.
"""
import json
import os
import uuid

import harness

SECRET = "whsec_current_0123456789"
OLD_SECRET = "whsec_previous_9876543210"
BODY = '{"event":"events.created","data":{"id":1,"calendar_id":2}}'


class ReceiveChecks(harness.TestCase):
    def start(self, extra=None, secrets=(SECRET, OLD_SECRET), env=None):
        self.port = harness.free_port()
        self.admin = harness.free_port()
        self.db = self.database()
        self.handled = os.path.join(self.tmp, "handled")
        args = ["receive", "--listen", "127.0.0.1:%d" % self.port,
                "--admin-listen", "127.0.0.1:%d" % self.admin, "--db", self.db.url]
        for s in secrets:
            args += ["--secret", s]
        if not any(a in ("--exec", "--forward") for a in (extra or [])):
            args += ["--exec", 'echo "$WEBHOOK_ID" >> %s' % self.handled]
        p = self.hookd(args + list(extra or []), wait_port=self.port, env=env)
        p.wait_listening(self.admin)
        return p

    def post(self, body=BODY, headers=None, path="/", method="POST"):
        status, _, data = harness.request(method, self.port, path, body, headers)
        return status, data

    def stored(self):
        return int(self.db.query("SELECT COUNT(*) FROM receive_webhooks")[0][0])

    def handled_ids(self):
        try:
            with open(self.handled) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def assert_error(self, status, data, want_status, want_code=None):
        self.assertEqual(status, want_status, data)
        err = json.loads(data)["error"]
        if want_code:
            self.assertEqual(err["code"], want_code)
        return err

    def test_accepts_signed_webhook_and_hands_it_over(self):
        self.start()
        wid = str(uuid.uuid4())
        status, data = self.post(headers=harness.signed_headers(SECRET, BODY, wid=wid))
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data), {"status": "accepted"})
        row = self.db.query("SELECT id, event, body, status FROM receive_webhooks")
        self.assertEqual(row[0][0:3], [wid, "events.created", BODY])
        harness.wait_until(lambda: self.handled_ids() == [wid], what="handler ran")

    def test_missing_headers(self):
        self.start()
        for name in ("X-Webhook-Id", "X-Webhook-Timestamp", "X-Webhook-Signature"):
            headers = harness.signed_headers(SECRET, BODY)
            del headers[name]
            status, data = self.post(headers=headers)
            err = self.assert_error(status, data, 400, "missing_header")
            self.assertIn(name, err["message"])
        self.assertEqual(self.stored(), 0)

    def test_malformed_timestamps(self):
        self.start()
        for ts in ("2024-08-22 01:04:05", "2024-08-22T01:04:05+00:00", "1724288645",
                   "2024-02-30T01:04:05Z", "yesterday"):
            headers = harness.signed_headers(SECRET, BODY, ts=ts)
            status, data = self.post(headers=headers)
            self.assert_error(status, data, 400, "bad_timestamp")
        self.assertEqual(self.stored(), 0)

    def test_expired_and_future_timestamps(self):
        self.start()
        old = harness.signed_headers(SECRET, BODY, ts=harness.now_ts(-6 * 60))
        status, data = self.post(headers=old)
        err = self.assert_error(status, data, 401, "expired")
        self.assertIn("expired", err["message"])
        future = harness.signed_headers(SECRET, BODY, ts=harness.now_ts(6 * 60))
        status, data = self.post(headers=future)
        err = self.assert_error(status, data, 401, "future")
        self.assertIn("future", err["message"])
        self.assertEqual(self.stored(), 0)

    def test_four_minutes_old_is_accepted(self):
        self.start()
        headers = harness.signed_headers(SECRET, BODY, ts=harness.now_ts(-4 * 60))
        status, data = self.post(headers=headers)
        self.assertEqual((status, json.loads(data)), (200, {"status": "accepted"}))

    def test_tolerance_flag(self):
        self.start(["--tolerance", "30s"])
        headers = harness.signed_headers(SECRET, BODY, ts=harness.now_ts(-60))
        status, data = self.post(headers=headers)
        self.assert_error(status, data, 401, "expired")

    def test_bad_signatures(self):
        self.start()
        # a signature that is simply wrong, and one that never echoes the right one
        headers = harness.signed_headers(SECRET, BODY)
        right = headers["X-Webhook-Signature"]
        headers["X-Webhook-Signature"] = "0" * 64
        status, data = self.post(headers=headers)
        self.assert_error(status, data, 401, "bad_signature")
        self.assertNotIn(right.encode(), data)
        # not even hex
        headers["X-Webhook-Signature"] = "not-a-signature"
        status, data = self.post(headers=headers)
        self.assert_error(status, data, 401, "bad_signature")
        # signed with another secret
        status, data = self.post(headers=harness.signed_headers("whsec_someone_else", BODY))
        self.assert_error(status, data, 401, "bad_signature")
        # body changed after signing
        headers = harness.signed_headers(SECRET, BODY)
        tampered = BODY.replace('"id":1', '"id":7')
        status, data = self.post(body=tampered, headers=headers)
        self.assert_error(status, data, 401, "bad_signature")
        # id changed after signing
        headers = harness.signed_headers(SECRET, BODY)
        headers["X-Webhook-Id"] = str(uuid.uuid4())
        status, data = self.post(headers=headers)
        self.assert_error(status, data, 401, "bad_signature")
        self.assertEqual(self.stored(), 0)

    def test_old_secret_accepted_during_rotation(self):
        self.start()
        status, data = self.post(headers=harness.signed_headers(OLD_SECRET, BODY))
        self.assertEqual((status, json.loads(data)), (200, {"status": "accepted"}))

    def test_secret_from_environment(self):
        self.start(secrets=(), env={"HOOKD_SECRET": "whsec_from_env"})
        status, data = self.post(headers=harness.signed_headers("whsec_from_env", BODY))
        self.assertEqual(status, 200, data)
        status, data = self.post(headers=harness.signed_headers(SECRET, BODY))
        self.assertEqual(status, 401, data)

    def test_not_an_envelope(self):
        self.start()
        for body in ('{"event":1,"data":{}}', '{"event":"x","data":[1]}', '{"data":{}}',
                     '[{"event":"x","data":{}}]', 'not json', '{"event":"x","data":{}'):
            status, data = self.post(body=body, headers=harness.signed_headers(SECRET, body))
            self.assert_error(status, data, 400, "not_envelope")
        self.assertEqual(self.stored(), 0)

    def test_method_and_path(self):
        self.start(["--path", "/hooks/meetbit"])
        headers = harness.signed_headers(SECRET, BODY)
        status, data = self.post(headers=headers, path="/hooks/meetbit", method="GET")
        self.assertEqual(status, 405, data)
        status, data = self.post(headers=headers, path="/hooks/meetbit", method="PUT")
        self.assertEqual(status, 405, data)
        status, data = self.post(headers=headers, path="/")
        self.assertEqual(status, 404, data)
        status, data = self.post(headers=headers, path="/hooks/other")
        self.assertEqual(status, 404, data)
        self.assertEqual(self.stored(), 0)
        status, data = self.post(headers=headers, path="/hooks/meetbit?x=1")
        self.assertEqual(status, 200, data)

    def test_body_over_max_body(self):
        self.start()
        big = '{"event":"events.created","data":{"pad":"%s"}}' % ("x" * (2 * 1024 * 1024))
        status, data = self.post(body=big, headers=harness.signed_headers(SECRET, big))
        self.assertEqual(status, 413, data)
        self.assertEqual(self.stored(), 0)
        # the receiver is still fine
        status, data = self.post(headers=harness.signed_headers(SECRET, BODY))
        self.assertEqual(status, 200, data)

    def test_max_body_flag(self):
        self.start(["--max-body", "100"])
        body = '{"event":"events.created","data":{"pad":"%s"}}' % ("y" * 200)
        status, data = self.post(body=body, headers=harness.signed_headers(SECRET, body))
        self.assertEqual(status, 413, data)
        self.assertEqual(self.stored(), 0)

    def test_duplicate_answered_duplicate_and_handled_once(self):
        self.start()
        wid = str(uuid.uuid4())
        status, data = self.post(headers=harness.signed_headers(SECRET, BODY, wid=wid))
        self.assertEqual((status, json.loads(data)), (200, {"status": "accepted"}))
        # a retry from the sender: same id, fresh timestamp and signature
        status, data = self.post(headers=harness.signed_headers(
            SECRET, BODY, wid=wid, ts=harness.now_ts(-2)))
        self.assertEqual((status, json.loads(data)), (200, {"status": "duplicate"}))
        harness.wait_until(lambda: self.handled_ids() == [wid], what="handler ran")
        status, data = self.post(headers=harness.signed_headers(SECRET, BODY, wid=wid))
        self.assertEqual((status, json.loads(data)), (200, {"status": "duplicate"}))
        status, out = harness.json_request("GET", self.admin, "/webhooks/" + wid)
        harness.wait_until(lambda: harness.json_request(
            "GET", self.admin, "/webhooks/" + wid)[1]["status"] == "done", what="done")
        self.assertEqual(self.handled_ids(), [wid])
        self.assertEqual(self.stored(), 1)

    def test_concurrent_duplicates_accepted_once(self):
        import threading
        self.start()
        wid = str(uuid.uuid4())
        answers = []

        def send():
            status, data = self.post(headers=harness.signed_headers(SECRET, BODY, wid=wid))
            answers.append((status, json.loads(data)["status"]))
        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(sorted(answers),
                         [(200, "accepted")] + [(200, "duplicate")] * 7)
        harness.wait_until(lambda: self.handled_ids() == [wid], what="handled")
        self.assertEqual(self.stored(), 1)

    def test_max_pending_answers_503(self):
        # The handler fails and waits an hour before retrying: both stay pending.
        self.start(["--max-pending", "2", "--exec", "exit 1", "--retry-delays", "1h"])
        for _ in range(2):
            status, data = self.post(headers=harness.signed_headers(SECRET, BODY))
            self.assertEqual(status, 200, data)
        status, headers, data = harness.request("POST", self.port, "/", BODY,
                                                harness.signed_headers(SECRET, BODY))
        self.assert_error(status, data, 503, "busy")
        self.assertEqual(headers.get("retry-after"), "60")
        self.assertEqual(self.stored(), 2)

    def test_min_free_disk_answers_503_with_retry_after(self):
        # No filesystem has a petabyte free: with SQLite every webhook is refused, with a
        # Retry-After, and nothing is stored. PostgreSQL's disk is not ours to read: the flag
        # does not apply there and the webhook is accepted.
        self.start(["--min-free-disk", "1048576GiB"])
        status, headers, data = harness.request("POST", self.port, "/", BODY,
                                                harness.signed_headers(SECRET, BODY))
        if self.db.backend == "postgres":
            self.assertEqual(status, 200, data)
            self.assertEqual(self.stored(), 1)
            return
        self.assert_error(status, data, 503, "store_full")
        self.assertEqual(headers.get("retry-after"), "60")
        self.assertEqual(self.stored(), 0)

    def test_admin_is_not_on_the_public_port(self):
        self.start()
        for path in ("/healthz", "/metrics", "/webhooks"):
            status, _, _ = harness.request("GET", self.port, path)
            self.assertEqual(status, 404)
        status, _, _ = harness.request("GET", self.admin, "/healthz")
        self.assertEqual(status, 200)

    def test_rejections_are_counted(self):
        self.start()
        self.post(headers=harness.signed_headers("wrong", BODY))
        self.post(headers=harness.signed_headers(SECRET, BODY))
        status, _, text = harness.request("GET", self.admin, "/metrics")
        self.assertEqual(status, 200)
        text = text.decode()
        self.assertIn('hookd_receive_rejected_total{reason="bad_signature"} 1', text)
        self.assertIn("hookd_receive_accepted_total 1", text)

    def test_usage_errors(self):
        db = self.database()
        base = ["receive", "--db", db.url, "--listen", "127.0.0.1:%d" % harness.free_port(),
                "--admin-listen", "127.0.0.1:%d" % harness.free_port()]
        code, _, err = self.run_hookd(base + ["--secret", "s"])
        self.assertEqual(code, 2, err)
        self.assertIn("--exec", err)
        code, _, err = self.run_hookd(base + ["--secret", "s", "--exec", "true",
                                              "--forward", "http://127.0.0.1:1/"])
        self.assertEqual(code, 2, err)
        code, _, err = self.run_hookd(base + ["--exec", "true"],
                                      env={"HOOKD_SECRET": ""})
        self.assertEqual(code, 2, err)
        self.assertIn("--secret", err)
        code, _, err = self.run_hookd(base + ["--secret", "s", "--exec", "true",
                                              "--tolerance", "soon"])
        self.assertEqual(code, 2, err)
        code, out, _ = self.run_hookd(["receive", "--help"])
        self.assertEqual(code, 0)
        for flag in ("--secret", "--exec", "--forward", "--max-pending", "--min-free-disk",
                     "--admin-listen",
                     "--retention", "--retry-delays", "--handler-timeout"):
            self.assertIn(flag, out)

    def test_secret_is_never_logged(self):
        p = self.start()
        self.post(headers=harness.signed_headers("wrong", BODY))
        self.post(headers=harness.signed_headers(SECRET, BODY))
        p.terminate()
        self.assertNotIn(SECRET, p.output())
        self.assertNotIn(OLD_SECRET, p.output())


if __name__ == "__main__":
    harness.main()
