"""test_cli.py — the command line as a person meets it: every command's help, one style for
every bad flag (one line naming the flag and the value, then a hint; exit 2), `hookd help
COMMAND`, and the environment fallbacks (HOOKD_SECRET, HOOKD_API_TOKEN).
HOOKD_BACKENDS: none
"""
import uuid

import harness
import serve_support

COMMANDS = ("serve", "receive", "sign", "verify", "send")
BODY = '{"event":"events.created","data":{"id":1,"calendar_id":2}}'


def hint(cmd):
    return "run 'hookd %s --help' for the flags" % cmd


class HelpTest(harness.TestCase):
    def test_every_command_has_h_and_help(self):
        for cmd in COMMANDS:
            for flag in ("-h", "--help"):
                code, out, err = self.run_hookd([cmd, flag])
                self.assertEqual(code, 0, (cmd, flag, err))
                self.assertEqual(err, "", (cmd, flag))
                self.assertTrue(out.startswith("usage: hookd %s " % cmd), out)
                self.assertIn("-h, --help", out)

    def test_help_command_prints_the_commands_help(self):
        code, out, err = self.run_hookd(["help", "serve"])
        self.assertEqual(code, 0, err)
        for flag in ("--listen", "--db", "--api-token", "--timeout", "--max-attempts",
                     "--retry-delays", "--allow-http", "--allow-private-addresses",
                     "--ca-file", "--event-types", "--event-types-only", "--lease",
                     "--max-in-flight", "--max-in-flight-per-destination", "--node-id",
                     "--poll-interval", "HOOKD_API_TOKEN", "HOOKD_LOG_LEVEL"):
            self.assertIn(flag, out)
        self.assertEqual(out, self.run_hookd(["serve", "--help"])[1])
        code, out, err = self.run_hookd(["help", "receive"])
        self.assertEqual(code, 0, err)
        for flag in ("--secret", "--exec", "--forward", "--max-body", "HOOKD_SECRET",
                     "HOOKD_LOG_LEVEL"):
            self.assertIn(flag, out)
        code, out, err = self.run_hookd(["help"])
        self.assertEqual(code, 0)
        self.assertIn("usage: hookd COMMAND", out)
        code, out, err = self.run_hookd(["help", "frobnicate"])
        self.assertEqual(code, 2)
        self.assertIn("frobnicate", err)


class FlagErrorTest(harness.TestCase):
    def assert_usage_error(self, args, first_line, env=None):
        code, out, err = self.run_hookd(args, stdin=b"{}", env=env)
        self.assertEqual(code, 2, err)
        self.assertEqual(out, "")
        self.assertEqual(err.splitlines(), [first_line, hint(args[0])], err)

    def test_unknown_flag_is_one_line_on_every_command(self):
        for cmd in COMMANDS:
            self.assert_usage_error([cmd, "--bogus"], "hookd %s: unknown flag --bogus" % cmd)
            self.assert_usage_error([cmd, "--bogus=1"], "hookd %s: unknown flag --bogus" % cmd)

    def test_bad_duration_names_flag_and_value(self):
        want = '--%s: "abc" is not a duration (use 500ms, 10s, 5m, 2h)'
        self.assert_usage_error(["serve", "--timeout", "abc"], "hookd serve: " + want % "timeout")
        self.assert_usage_error(["serve", "--poll-interval=abc"],
                                "hookd serve: " + want % "poll-interval")
        self.assert_usage_error(["receive", "--retention", "abc"],
                                "hookd receive: " + want % "retention")
        self.assert_usage_error(["verify", "--tolerance", "abc"],
                                "hookd verify: " + want % "tolerance")
        self.assert_usage_error(["send", "--timeout", "abc"], "hookd send: " + want % "timeout")

    def test_out_of_range_names_the_range(self):
        self.assert_usage_error(["serve", "--timeout", "20m"],
                                'hookd serve: --timeout: "20m" is not a duration from 1ms to 10m')
        self.assert_usage_error(["serve", "--max-attempts", "0"],
                                'hookd serve: --max-attempts: "0" is not a number from 1 to 100')
        self.assert_usage_error(["receive", "--max-body", "2GiB"],
                                'hookd receive: --max-body: "2GiB" is not a size from 1 byte '
                                'to 1GiB')

    def test_other_kinds(self):
        self.assert_usage_error(["receive", "--max-body", "lots"],
                                'hookd receive: --max-body: "lots" is not a size '
                                '(use 512KiB, 1MiB, 1GiB)')
        self.assert_usage_error(["receive", "--workers", "4x"],
                                'hookd receive: --workers: "4x" is not a whole number')
        self.assert_usage_error(["serve", "--retry-delays", "1s,,2s"],
                                'hookd serve: --retry-delays: "1s,,2s" is not a list of at '
                                'most 32 durations (use 10s,1m,10m,1h)')
        self.assert_usage_error(["receive", "--path", "hook"],
                                'hookd receive: --path: "hook" does not start with /')
        self.assert_usage_error(["serve", "--lease"], "hookd serve: --lease needs a value")
        self.assert_usage_error(["serve", "--allow-http=yes"],
                                "hookd serve: --allow-http takes no value")
        self.assert_usage_error(["serve", "extra"], 'hookd serve: unexpected argument "extra"')

    def test_checks_between_flags_use_the_same_style(self):
        self.assert_usage_error(["serve", "--timeout", "30s", "--lease", "20s"],
                                "hookd serve: --lease must be longer than --timeout")
        self.assert_usage_error(["receive", "--exec", "true"],
                                "hookd receive: --secret is required (or env HOOKD_SECRET)",
                                env={"HOOKD_SECRET": ""})


class EnvironmentTest(serve_support.ServeCase):
    def test_sign_and_verify_read_hookd_secret(self):
        wid = str(uuid.uuid4())
        ts = harness.now_ts()
        code, out, err = self.run_hookd(["sign", "--id", wid, "--timestamp", ts],
                                        stdin=BODY, env={"HOOKD_SECRET": "whsec_env"})
        self.assertEqual(code, 0, err)
        sig = harness.sign("whsec_env", wid, ts, BODY.encode())
        self.assertIn("X-Webhook-Signature: %s\n" % sig, out)
        # The flag wins over the environment.
        code, out, err = self.run_hookd(["sign", "--id", wid, "--timestamp", ts,
                                         "--secret", "whsec_flag"],
                                        stdin=BODY, env={"HOOKD_SECRET": "whsec_env"})
        self.assertEqual(code, 0, err)
        self.assertIn(harness.sign("whsec_flag", wid, ts, BODY.encode()), out)
        verify = ["verify", "--id", wid, "--timestamp", ts, "--signature", sig]
        code, out, err = self.run_hookd(verify, stdin=BODY, env={"HOOKD_SECRET": "whsec_env"})
        self.assertEqual((code, out), (0, "ok\n"), err)
        code, out, err = self.run_hookd(verify, stdin=BODY, env={"HOOKD_SECRET": "other"})
        self.assertEqual(code, 1)
        self.assertIn("bad signature", err)

    def test_receive_takes_its_secret_from_hookd_secret(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        self.hookd(["receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
                    "127.0.0.1:%d" % admin, "--db", db.url, "--exec", "true"],
                   wait_port=port, env={"HOOKD_SECRET": "whsec_from_env"})
        status, _, data = harness.request("POST", port, "/", BODY,
                                          harness.signed_headers("whsec_from_env", BODY))
        self.assertEqual(status, 200, data)
        status, _, data = harness.request("POST", port, "/", BODY,
                                          harness.signed_headers("whsec_other", BODY))
        self.assertEqual(status, 401, data)

    def test_serve_takes_its_token_from_hookd_api_token(self):
        p = self.start_serve(token=None, env={"HOOKD_API_TOKEN": "token-from-the-env"})
        status, _ = self.api(p, "GET", "/v1/destinations", token="token-from-the-env")
        self.assertEqual(status, 200)
        status, _ = self.api(p, "GET", "/v1/destinations", token="some-other-token")
        self.assertEqual(status, 401)
        self.assertNotIn("token-from-the-env", p.output())


if __name__ == "__main__":
    harness.main()
