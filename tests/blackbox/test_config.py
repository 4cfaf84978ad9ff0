"""test_config.py — `--config FILE` (name = value lines; the command line and the environment
win; mistakes name the file and line) and `--log-format json` (one JSON object per line,
no secrets), on serve and receive.
HOOKD_BACKENDS: sqlite
"""
import json
import os
import re

import harness
from serve_support import ServeCase

FILE_TOKEN = "file-token-0123456789"
ENV_TOKEN = "env-token-0123456789"


class ConfigTest(ServeCase):

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def serve_config(self, port, extra=""):
        db = self.database()
        return self.write("serve.conf", "# the sender\nlisten = 127.0.0.1:%d\ndb = %s\n"
                          "api-token = %s\nallow-http = true\n%s" % (port, db.url, FILE_TOKEN,
                                                                     extra))

    def test_serve_reads_the_file(self):
        port = harness.free_port()
        path = self.serve_config(port)
        p = self.hookd(["serve", "--config", path], wait_port=port, name="serve")
        status, body = harness.json_request("GET", port, "/v1/destinations", token=FILE_TOKEN)
        self.assertEqual((status, body), (200, {"data": []}))
        # allow-http = true took effect: an http:// destination is accepted
        status, _ = harness.json_request("POST", port, "/v1/destinations", {
            "name": "d", "url": "http://example.com/", "events": ["events.created"]},
            token=FILE_TOKEN)
        self.assertEqual(status, 201)
        self.assertEqual(p.terminate(), 0)

    def test_command_line_and_environment_win(self):
        file_port, flag_port = harness.free_port(), harness.free_port()
        path = self.serve_config(file_port)
        self.hookd(["serve", "--config", path, "--listen", "127.0.0.1:%d" % flag_port],
                   env={"HOOKD_API_TOKEN": ENV_TOKEN}, wait_port=flag_port, name="serve")
        self.assertEqual(harness.json_request("GET", flag_port, "/v1/destinations",
                                              token=ENV_TOKEN)[0], 200)
        self.assertEqual(harness.json_request("GET", flag_port, "/v1/destinations",
                                              token=FILE_TOKEN)[0], 401)

    def test_mistakes_name_file_and_line(self):
        path = self.write("bad.conf", "listen = 127.0.0.1:0\n\n# x\ntimeout = soon\n")
        code, _, err = self.run_hookd(["serve", "--config", path])
        self.assertEqual(code, 2)
        self.assertIn('hookd serve: %s:4: --timeout: "soon" is not a duration' % path, err)
        path = self.write("bad2.conf", "secret = x\nexec = true\nworkers = 2\nlisten = x\n"
                          "bogus = 1\n")
        code, _, err = self.run_hookd(["receive", "--config", path])
        self.assertEqual(code, 2)
        self.assertIn('hookd receive: %s:5: "bogus" is not a setting of hookd receive' % path,
                      err)
        self.assertEqual(len(err.splitlines()), 2, err)  # the line and the --help hint

    def test_receive_reads_the_file(self):
        port, admin = harness.free_port(), harness.free_port()
        out = os.path.join(self.tmp, "handled")
        db = self.database()
        path = self.write("receive.conf", "listen = 127.0.0.1:%d\nadmin-listen = 127.0.0.1:%d\n"
                          "db = %s\nsecret = old-secret-1\nsecret = new-secret-2\n"
                          "exec = cat >> %s\n" % (port, admin, db.url, out))
        self.hookd(["receive", "--config", path], wait_port=port, name="receive")
        body = b'{"event":"events.created","data":{"id":1}}'
        status, _, _ = harness.request("POST", port, "/", body,
                                       harness.signed_headers("old-secret-1", body))
        self.assertEqual(status, 200)
        def handled():
            if not os.path.exists(out):
                return False
            with open(out, "rb") as f:
                return f.read() == body
        harness.wait_until(handled, what="the handler to run")

    def test_json_logs(self):
        port = harness.free_port()
        path = self.serve_config(port, "log-format = json\n")
        p = self.hookd(["serve", "--config", path], wait_port=port, name="serve")
        self.assertEqual(harness.json_request("GET", port, "/v1/webhooks/nope",
                                              token=FILE_TOKEN)[0], 404)
        self.assertEqual(p.terminate(), 0)
        lines = p.output().splitlines()
        self.assertGreaterEqual(len(lines), 3)
        for line in lines:
            entry = json.loads(line)
            self.assertEqual(sorted(entry), ["component", "level", "message", "time"])
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(entry["level"], ("debug", "info", "warn", "error"))
        self.assertTrue(any(e["component"] == "serve" and "listening on" in e["message"]
                            for e in map(json.loads, lines)))
        self.assertNotIn(FILE_TOKEN, p.output())

    def test_json_logs_from_the_flag_escape_text(self):
        # a database path with a quote, a backslash and a tab reaches the log escaped
        port = harness.free_port()
        odd = os.path.join(self.tmp, 'a"b\\c\td.db')
        p = self.hookd(["serve", "--log-format", "json", "--listen", "127.0.0.1:%d" % port,
                        "--db", "sqlite:" + odd, "--api-token", FILE_TOKEN], wait_port=port,
                       name="serve")
        # the port opens a moment before SIGTERM is handled: wait for an answer first
        self.assertEqual(harness.request("GET", port, "/healthz")[0], 200)
        self.assertEqual(p.terminate(), 0)
        messages = [json.loads(l)["message"] for l in p.output().splitlines()]
        self.assertTrue(any(odd in m for m in messages), messages)

    def test_help_lists_the_common_flags(self):
        for command in ("serve", "receive", "sign", "verify", "send"):
            code, out, _ = self.run_hookd([command, "--help"])
            self.assertEqual(code, 0)
            self.assertRegex(out, r"(?m)^  --config FILE ")
            self.assertRegex(out, r"(?m)^  --log-format FORMAT ")


if __name__ == "__main__":
    harness.main()
