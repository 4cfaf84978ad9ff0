"""test_panel_receive.py — hookd receive's admin panel (SPEC §7, last bullet) in a real browser.
HOOKD_BACKENDS: sqlite

Chromium driven by playwright-core (tests/browser/receive_panel.mjs) against the real hookd
receive on loopback, with a real SQLite store and an --exec handler that fails at first: two
signed webhooks come in, one is handled on its second run, the other fails both of its runs;
in the browser a wrong token cannot sign in, the right one can, the inbox shows both by
status, a webhook's page shows its runs, a forged Retry is refused and the real one gets the
failed webhook handled. This file checks what the handler and the admin API saw.

SQLite only: the panel reads through the same receive_store functions as the admin API, which
the API tests run on both backends; a second chromium run costs the shared machine more than
it could find. HOOKD_PANEL_SCREENSHOTS=DIR keeps the screenshots (docs/panel/).
"""
import json
import os
import uuid

import browser_support
import harness

SECRET = "whsec_panel_receive_tests"

# Counts its runs per webhook in $RUNS/<id>; events.created is handled on its 2nd run,
# anything else on its 3rd (so with --max-attempts 2 it fails until a Retry).
HANDLER = r"""
f="$RUNS/$WEBHOOK_ID"; n=$(cat "$f" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$f"
limit=3; [ "$WEBHOOK_EVENT" = events.created ] && limit=2
cat > /dev/null
if [ $n -ge $limit ]; then echo "handled on run $n"; exit 0; fi
echo "run $n fails <on purpose>" >&2; exit 3
"""


class PanelReceiveTest(harness.TestCase):

    def send(self, port, event, wid):
        body = json.dumps({"event": event, "data": {"id": 7, "note": "<b>not markup</b>"}})
        status, _, data = harness.request("POST", port, "/", body,
                                          harness.signed_headers(SECRET, body, wid=wid))
        self.assertEqual(status, 200, data)

    def webhook(self, admin, wid):
        status, out = harness.json_request("GET", admin, "/webhooks/" + wid)
        self.assertEqual(status, 200, out)
        return out

    def runs_of(self, wid):
        with open(os.path.join(self.runs, wid)) as f:
            return int(f.read())

    def test_inbox_runs_and_retry_in_a_browser(self):
        browser_support.setup()
        self.runs = os.path.join(self.tmp, "runs")
        os.mkdir(self.runs)
        script = os.path.join(self.tmp, "handler.sh")
        with open(script, "w") as f:
            f.write(HANDLER)
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
                        "127.0.0.1:%d" % admin, "--db", db.url, "--secret", SECRET,
                        "--exec", "sh " + script, "--max-attempts", "2",
                        "--retry-delays", "1s"],
                       env={"RUNS": self.runs}, wait_port=port)
        p.wait_listening(admin)
        handled, failed = str(uuid.uuid4()), str(uuid.uuid4())
        self.send(port, "events.created", handled)
        self.send(port, "events.deleted", failed)
        harness.wait_until(lambda: self.webhook(admin, handled)["status"] == "done", 20,
                           what="the first webhook handled on its second run")
        harness.wait_until(lambda: self.webhook(admin, failed)["status"] == "failed", 20,
                           what="the second webhook failed")

        shots = os.environ.get("HOOKD_PANEL_SCREENSHOTS") or os.path.join(self.tmp, "shots")
        out = browser_support.run("receive_panel.mjs", {
            "base": "http://127.0.0.1:%d" % admin, "token": harness.ADMIN_TOKEN,
            "handled": handled, "failed": failed, "shots": shots})

        # the forged POSTs changed nothing; the Retry ran the handler once more and it won
        self.assertEqual(out["runs_after_forgery"], 2)
        w = self.webhook(admin, failed)
        self.assertEqual(w["status"], "done")
        self.assertEqual([r["exit_status"] for r in w["runs"]], [3, 3, 0])
        self.assertEqual(self.runs_of(failed), 3)
        self.assertEqual(self.runs_of(handled), 2)
        self.assertEqual(len(self.webhook(admin, handled)["runs"]), 2)
        self.assertNotIn(harness.ADMIN_TOKEN, p.output())
        self.assertIn("a sign-in with a wrong admin token", p.output())
        for name in ("sign-in", "inbox", "inbox-failed", "webhook", "webhook-retried",
                     "inbox-360"):
            path = os.path.join(shots, "receive-%s.png" % name)
            self.assertTrue(os.path.getsize(path) > 1000, name)


if __name__ == "__main__":
    harness.main()
