"""test_tools.py — `hookd sign`, `hookd verify`, `hookd send` and the top-level usage, run as
a person would from a shell. Signatures are checked against Python's own hmac (harness.sign).
HOOKD_BACKENDS: none
"""
import json
import re
import uuid

import harness

VECTOR_ID = "3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c"
VECTOR_TS = "2024-08-22T01:04:05Z"
VECTOR_BODY = b'{"event":"meeting_links.scheduled","data":{"id":1234}}'
VECTOR_SIG = "52c455b420bc277114faeb71257e38dc8f7ce1d2dc5fa1c8b60d494e7b46f5a8"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_headers(text):
    """The three lines of `hookd sign` as a dict, asserting there are exactly three."""
    lines = text.splitlines()
    assert len(lines) == 3, text
    out = {}
    for line in lines:
        name, _, value = line.partition(": ")
        out[name] = value
    assert list(out) == ["X-Webhook-Id", "X-Webhook-Timestamp", "X-Webhook-Signature"], text
    return out


class SignTest(harness.TestCase):
    def test_spec_vector(self):
        self.assertEqual(harness.sign("whsec_test", VECTOR_ID, VECTOR_TS, VECTOR_BODY),
                         VECTOR_SIG)
        code, out, err = self.run_hookd(["sign", "--secret", "whsec_test", "--id", VECTOR_ID,
                                         "--timestamp", VECTOR_TS], stdin=VECTOR_BODY)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "X-Webhook-Id: %s\nX-Webhook-Timestamp: %s\n"
                              "X-Webhook-Signature: %s\n" % (VECTOR_ID, VECTOR_TS, VECTOR_SIG))

    def test_default_timestamp_is_now_and_signature_matches_python(self):
        body = '{"event":"events.created","data":{"name":"Zoë 日本","id":1}}\n'.encode()
        secret = "sécret-🔑"
        code, out, err = self.run_hookd(["sign", "--secret", secret, "--id", "msg_1"],
                                        stdin=body)
        self.assertEqual(code, 0, err)
        h = parse_headers(out)
        self.assertEqual(h["X-Webhook-Id"], "msg_1")
        self.assertRegex(h["X-Webhook-Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn(h["X-Webhook-Timestamp"], (harness.now_ts(-1), harness.now_ts(),
                                                 harness.now_ts(-2)))
        self.assertEqual(h["X-Webhook-Signature"],
                         harness.sign(secret, "msg_1", h["X-Webhook-Timestamp"], body))

    def test_bad_timestamp_flag(self):
        code, out, err = self.run_hookd(["sign", "--secret", "s", "--id", "x", "--timestamp",
                                         "2024-08-22T01:04:05+00:00"], stdin=b"{}")
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertIn("--timestamp", err)

    def test_missing_flags(self):
        # One line naming what is missing, then the hint (not the whole usage).
        for args, why in ((["--id", "x"], "--secret is required (or env HOOKD_SECRET)"),
                          (["--secret", "s"], "--id is required"),
                          (["--secret"], "--secret needs a value")):
            code, out, err = self.run_hookd(["sign"] + args, stdin=b"{}",
                                            env={"HOOKD_SECRET": ""})
            self.assertEqual(code, 2, args)
            self.assertEqual(out, "")
            self.assertEqual(err.splitlines(), ["hookd sign: " + why,
                                                "run 'hookd sign --help' for the flags"])


class VerifyTest(harness.TestCase):
    def sign(self, body, secret="whsec_test", wid=None, ts=None):
        args = ["sign", "--secret", secret, "--id", wid or str(uuid.uuid4())]
        if ts:
            args += ["--timestamp", ts]
        code, out, err = self.run_hookd(args, stdin=body)
        self.assertEqual(code, 0, err)
        return parse_headers(out)

    def verify(self, h, body, secrets=("whsec_test",), extra=()):
        args = ["verify", "--id", h["X-Webhook-Id"], "--timestamp", h["X-Webhook-Timestamp"],
                "--signature", h["X-Webhook-Signature"]] + list(extra)
        for s in secrets:
            args += ["--secret", s]
        return self.run_hookd(args, stdin=body)

    def test_accepts_what_sign_printed(self):
        body = b'{"event":"events.created","data":{"id":1,"calendar_id":2}}'
        h = self.sign(body)
        self.assertEqual(h["X-Webhook-Signature"],
                         harness.sign("whsec_test", h["X-Webhook-Id"],
                                      h["X-Webhook-Timestamp"], body))
        code, out, err = self.verify(h, body)
        self.assertEqual((code, out, err), (0, "ok\n", ""))

    def test_accepts_python_signature_and_uppercase(self):
        body = b'{"event":"e","data":{}}'
        h = harness.signed_headers("whsec_py", body)
        code, out, err = self.verify(h, body, secrets=("whsec_py",))
        self.assertEqual((code, out), (0, "ok\n"), err)
        h["X-Webhook-Signature"] = h["X-Webhook-Signature"].upper()
        code, out, err = self.verify(h, body, secrets=("whsec_py",))
        self.assertEqual((code, out), (0, "ok\n"), err)

    def test_changed_byte_is_bad_signature(self):
        body = b'{"event":"events.created","data":{"id":1}}'
        h = self.sign(body)
        code, out, err = self.verify(h, body.replace(b"1", b"2"))
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("bad signature", err)
        # A trailing newline is a changed body too.
        code, _, err = self.verify(h, body + b"\n")
        self.assertEqual(code, 1)
        self.assertIn("bad signature", err)

    def test_several_secrets(self):
        body = b'{"event":"e","data":{}}'
        h = self.sign(body, secret="whsec_old")
        code, out, err = self.verify(h, body, secrets=("whsec_new", "whsec_old"))
        self.assertEqual((code, out), (0, "ok\n"), err)
        code, out, err = self.verify(h, body, secrets=("whsec_new", "whsec_other"))
        self.assertEqual(code, 1)
        self.assertIn("bad signature", err)

    def test_expired(self):
        body = b'{"event":"e","data":{}}'
        h = self.sign(body, ts=harness.now_ts(-400))
        code, out, err = self.verify(h, body)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("expired", err)
        # A longer tolerance accepts it.
        code, out, err = self.verify(h, body, extra=["--tolerance", "10m"])
        self.assertEqual((code, out), (0, "ok\n"), err)

    def test_future(self):
        body = b'{"event":"e","data":{}}'
        h = self.sign(body, ts=harness.now_ts(400))
        code, out, err = self.verify(h, body)
        self.assertEqual(code, 1)
        self.assertIn("future", err)
        h = self.sign(body, ts=harness.now_ts(60))
        code, out, err = self.verify(h, body)
        self.assertEqual((code, out), (0, "ok\n"), err)

    def test_malformed_timestamp(self):
        body = b'{"event":"e","data":{}}'
        for ts in ("2024-08-22T01:04:05+00:00", "2023-02-29T00:00:00Z", "yesterday",
                   "2024-08-22T01:04:05.123Z"):
            h = {"X-Webhook-Id": VECTOR_ID, "X-Webhook-Timestamp": ts,
                 "X-Webhook-Signature": VECTOR_SIG}
            code, out, err = self.verify(h, body)
            self.assertEqual(code, 1, ts)
            self.assertIn("malformed timestamp", err)

    def test_malformed_signature(self):
        body = b'{"event":"e","data":{}}'
        h = self.sign(body)
        h["X-Webhook-Signature"] = "sha256=" + h["X-Webhook-Signature"]
        code, _, err = self.verify(h, body)
        self.assertEqual(code, 1)
        self.assertIn("malformed signature", err)

    def test_usage(self):
        code, out, err = self.run_hookd(["verify", "--secret", "s", "--id", "x"], stdin=b"")
        self.assertEqual(code, 2)
        self.assertIn("--id, --timestamp and --signature are required", err)
        self.assertIn("run 'hookd verify --help' for the flags", err)
        code, out, err = self.run_hookd(["verify", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("usage: hookd verify", out)
        self.assertIn("--tolerance", out)


class SendTest(harness.TestCase):
    def send(self, url, data='{"id":1234}', event="meeting_links.scheduled", extra=()):
        return self.run_hookd(["send", url, "--secret", "whsec_send", "--event", event,
                               "--data", data] + list(extra))

    def test_delivers_signed_body(self):
        rec = self.recorder(lambda req: (200, {}, b'{"received":true}', 0))
        data = '{ "z": 1.50, "a": [1e3, "x  y"],\n "n": null }'
        wid = str(uuid.uuid4())
        code, out, err = self.send(rec.url, data=data, extra=["--id", wid])
        self.assertEqual(code, 0, err)
        self.assertEqual(out, 'HTTP 200\n{"received":true}\n')
        self.assertEqual(rec.count(), 1)
        req = rec.received()[0]
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["path"], "/hook")
        self.assertEqual(req["body"], b'{"event":"meeting_links.scheduled","data":'
                                      b'{"z":1.50,"a":[1e3,"x  y"],"n":null}}')
        hd = req["headers"]
        self.assertEqual(hd["content-type"], "application/json")
        self.assertRegex(hd["user-agent"], r"^hookd/\d+\.\d+\.\d+")
        self.assertEqual(hd["x-webhook-id"], wid)
        self.assertRegex(hd["x-webhook-timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(hd["x-webhook-signature"],
                         harness.sign("whsec_send", wid, hd["x-webhook-timestamp"],
                                      req["body"]))

    def test_fresh_uuid_by_default(self):
        rec = self.recorder()
        for _ in range(2):
            code, out, err = self.send(rec.url, event="custom.anything")
            self.assertEqual(code, 0, err)
        ids = [r["headers"]["x-webhook-id"] for r in rec.received()]
        self.assertEqual(len(ids), 2)
        for i in ids:
            self.assertRegex(i, UUID_RE)
            self.assertEqual(i[14], "4")
        self.assertNotEqual(ids[0], ids[1])

    def test_error_status_exits_1(self):
        rec = self.recorder(lambda req: (500, {}, b"boom", 0))
        code, out, err = self.send(rec.url)
        self.assertEqual(code, 1)
        self.assertEqual(out, "HTTP 500\nboom\n")
        self.assertEqual(rec.count(), 1)

    def test_redirect_not_followed(self):
        holder = {}
        rec = self.recorder(lambda req: (302, {"Location": holder["url"]}, b"", 0))
        holder["url"] = rec.url
        code, out, err = self.send(rec.url)
        self.assertEqual(code, 1)
        self.assertTrue(out.startswith("HTTP 302"), out)
        self.assertEqual(rec.count(), 1)

    def test_response_shown_is_capped(self):
        rec = self.recorder(lambda req: (201, {}, b"x" * 10000, 0))
        code, out, err = self.send(rec.url)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "HTTP 201\n" + "x" * 4096 + "\n")

    def test_timeout(self):
        rec = self.recorder(lambda req: (200, {}, b"late", 3))
        code, out, err = self.send(rec.url, extra=["--timeout", "300ms"])
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("hookd send:", err)

    def test_connection_refused(self):
        port = harness.free_port()
        code, out, err = self.send("http://127.0.0.1:%d/hook" % port)
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("hookd send:", err)

    def test_data_must_be_object(self):
        rec = self.recorder()
        for data in ("[1,2]", "{", "12", '{"a":1,}'):
            code, out, err = self.send(rec.url, data=data)
            self.assertEqual(code, 2, data)
            self.assertIn("--data must be a JSON object", err)
        code, out, err = self.send(rec.url, event="bad type")
        self.assertEqual(code, 2)
        self.assertIn("--event", err)
        self.assertEqual(rec.count(), 0)

    def test_data_on_stdin(self):
        rec = self.recorder()
        code, out, err = self.run_hookd(["send", rec.url, "--secret", "s", "--event", "e",
                                         "--data", "-"], stdin=b'{"k": "v"}\n')
        self.assertEqual(code, 0, err)
        self.assertEqual(rec.received()[0]["body"], b'{"event":"e","data":{"k":"v"}}')


class UsageTest(harness.TestCase):
    def test_top_level(self):
        code, out, err = self.run_hookd(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("usage: hookd", out)
        for cmd in ("serve", "receive", "sign", "verify", "send"):
            self.assertIn(cmd, out)
        code, out, err = self.run_hookd(["--version"])
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^hookd \d+\.\d+\.\d+\n$")
        code, out, err = self.run_hookd([])
        self.assertEqual(code, 2)
        self.assertIn("usage: hookd", err)

    def test_unknown_command(self):
        code, out, err = self.run_hookd(["frobnicate"])
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertIn("frobnicate", err)
        self.assertIn("usage: hookd", err)

    def test_command_help(self):
        for cmd in ("sign", "verify", "send"):
            code, out, err = self.run_hookd([cmd, "--help"])
            self.assertEqual(code, 0, cmd)
            self.assertIn("usage: hookd " + cmd, out)
            self.assertEqual(err, "")

    def test_unknown_flag(self):
        for cmd in ("sign", "verify", "send"):
            code, out, err = self.run_hookd([cmd, "--bogus"], stdin=b"")
            self.assertEqual(code, 2, cmd)
            self.assertEqual(out, "")
            self.assertEqual(err, "hookd %s: unknown flag --bogus\n"
                                  "run 'hookd %s --help' for the flags\n" % (cmd, cmd))


if __name__ == "__main__":
    harness.main()
