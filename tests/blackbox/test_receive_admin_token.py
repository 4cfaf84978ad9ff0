"""test_receive_admin_token.py — the receiver's admin token (issue 11): without
--admin-token, one is generated at first start, printed once on stdout and stored only as
its SHA-256; every admin call but /healthz and /readyz needs it; it never reaches the logs.
HOOKD_BACKENDS: sqlite postgres
"""
import hashlib
import json
import os
import re
import subprocess

import harness

SECRET = "whsec_admin_token_tests"
BODY = '{"event":"events.created","data":{"id":1}}'


class ReceiveAdminToken(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.db = self.database()
        self.port, self.admin = harness.free_port(), harness.free_port()
        self.running = None

    def tearDown(self):
        if self.running and self.running.poll() is None:
            self.running.kill()
            self.running.wait(timeout=10)
        super().tearDown()

    def start(self, name, token=""):
        """hookd receive with stdout and stderr in separate files (token "" : generate)."""
        out, err = (os.path.join(self.tmp, "%s.%s" % (name, s)) for s in ("out", "err"))
        env = dict(os.environ, HOOKD_SECRET=SECRET, HOOKD_ADMIN_TOKEN=token)
        with open(out, "wb") as o, open(err, "wb") as e:
            self.running = subprocess.Popen(
                [harness.HOOKD, "receive", "--listen", "127.0.0.1:%d" % self.port,
                 "--admin-listen", "127.0.0.1:%d" % self.admin, "--db", self.db.url,
                 "--exec", "cat > /dev/null"], stdout=o, stderr=e, env=env)
        harness.wait_until(lambda: self.status("/healthz") == 200 or self.running.poll(),
                           what="the admin listener")
        self.assertIsNone(self.running.poll())
        return out, err

    def stop(self):
        self.running.terminate()
        self.assertEqual(self.running.wait(timeout=20), 0)

    def status(self, path, token=None, method="GET"):
        auth = {"Authorization": "Bearer " + token if token else None}
        try:
            return harness.request(method, self.admin, path, None, auth, timeout=5)[0]
        except OSError:
            return 0

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()

    def test_generated_token_is_printed_once_and_required(self):
        out, err = self.start("first")
        line = re.search(r"^admin token: (hk_[0-9a-f]{48})$", self.read(out), re.M)
        self.assertTrue(line, self.read(out))
        token = line.group(1)
        self.assertIn("shown once", self.read(out))
        # every admin call but /healthz and /readyz needs it, in the API's error dialect
        status, _, data = harness.request("GET", self.admin, "/webhooks", None,
                                          {"Authorization": None})
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(data)["error"]["code"], "unauthorized")
        for path in ("/webhooks", "/metrics", "/webhooks/x"):
            self.assertEqual(self.status(path), 401, path)
            self.assertEqual(self.status(path, "hk_" + "0" * 48), 401, path)
        self.assertEqual(self.status("/webhooks/x/retry", token[:-1] + ("1" if token.endswith("0") else "0"), "POST"), 401)
        self.assertEqual(self.status("/healthz"), 200)
        self.assertEqual(self.status("/readyz"), 200)
        self.assertEqual(self.status("/webhooks", token), 200)
        self.assertEqual(self.status("/metrics", token), 200)
        self.assertEqual(self.status("/webhooks/x", token), 404)
        self.stop()

        # the second start prints none and keeps the first one
        out2, err2 = self.start("second")
        self.assertEqual(self.read(out2), "")
        self.assertIn("using the admin token generated at first start", self.read(err2))
        self.assertEqual(self.status("/webhooks", token), 200)
        self.assertEqual(self.status("/webhooks"), 401)
        self.stop()

        # only its SHA-256 is stored; the logs never hold it
        rows = self.db.query("SELECT name, value FROM receive_settings")
        self.assertEqual(rows, [["admin_token_sha256", hashlib.sha256(token.encode()).hexdigest()]])
        for path in (err, err2, out2):
            self.assertNotIn(token, self.read(path), path)
        self.assertEqual(self.read(out).count(token), 1)

    def test_given_token_is_used_and_never_logged(self):
        token = "an-operator-chosen-admin-token"
        out, err = self.start("given", token=token)
        self.assertEqual(self.read(out), "")
        self.assertEqual(self.status("/webhooks", token), 200)
        self.assertEqual(self.status("/webhooks", token + "x"), 401)
        self.assertEqual(self.status("/webhooks"), 401)
        wid = "0f5b8c2e-3d7a-4c1e-9b2f-6a4d8e1c7b30"
        status, _, _ = harness.request("POST", self.port, "/", BODY,
                                       harness.signed_headers(SECRET, BODY, wid=wid))
        self.assertEqual(status, 200)
        harness.wait_until(lambda: harness.json_request("GET", self.admin, "/webhooks/" + wid,
                                                        token=token)[1]["status"] == "done",
                           what="the webhook handled")
        self.stop()
        self.assertEqual(self.db.query("SELECT name FROM receive_settings"), [])
        for path in (out, err):
            self.assertNotIn(token, self.read(path), path)


if __name__ == "__main__":
    harness.main()
