"""test_panel_serve.py — hookd serve's admin panel (SPEC §7) in a real browser.
HOOKD_BACKENDS: sqlite

Chromium driven by playwright-core (tests/browser/panel_serve.mjs) against the real hookd
serve on loopback with a real store and a real HTTP receiver: the browser walks MeetBit's
setup steps as a person would; this file checks what the receiver got and what the API sees.

SQLite only: the panel calls the same store functions as the API (serve_store_w_*), which
every API test runs on both backends; a second chromium run costs the shared 2-core machine
more than it could find. HOOKD_PANEL_SCREENSHOTS=DIR keeps the screenshots (docs/panel/).
"""
import os

import browser_support
import harness
from serve_support import ServeCase

LIMITED = ["destinations.read", "destinations.create", "webhooks.read", "events.read"]


class PanelServeTest(ServeCase):

    def test_meetbit_setup_in_a_browser(self):
        browser_support.setup()
        receiver = self.recorder()
        p = self.start_serve()
        limited = self.ok(p, "POST", "/v1/access-keys",
                          {"name": "support desk", "account": "default",
                           "permissions": LIMITED}, status=201)["key"]
        shots = os.environ.get("HOOKD_PANEL_SCREENSHOTS") or os.path.join(self.tmp, "shots")
        out = browser_support.run("panel_serve.mjs", {
            "base": "http://127.0.0.1:%d" % p.port, "token": p.token, "api_token": p.token,
            "limited": limited, "receiver": receiver.url, "shots": shots})
        # the receiver got the event twice (the attempt and the Retry), signed with the
        # secret the panel revealed, under the one webhook id
        got = [r for r in receiver.received() if r["method"] == "POST"]
        self.assertEqual(len(got), 2, got)
        for r in got:
            h = r["headers"]
            self.assertEqual(h["x-webhook-id"], out["webhook"])
            self.assertEqual(h["x-webhook-signature"],
                             harness.sign(out["secret"], h["x-webhook-id"],
                                          h["x-webhook-timestamp"], r["body"]))
        # the forged deactivate changed nothing before the delete; the delete went through
        status, _ = self.api(p, "GET", "/v1/destinations/%s" % out["destination"])
        self.assertEqual(status, 404)
        for name in ("sign-in", "create-error", "create", "destination", "destinations",
                     "events", "delete", "destination-360"):
            self.assertTrue(os.path.getsize(os.path.join(shots, name + ".png")) > 1000, name)


if __name__ == "__main__":
    harness.main()
