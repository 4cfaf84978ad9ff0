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
import re
import urllib.parse

import browser_support
import harness
from serve_support import ServeCase

LIMITED = ["destinations.read", "webhooks.read", "events.read"]  # no create, no activate


class PanelServeTest(ServeCase):

    def test_meetbit_setup_in_a_browser(self):
        browser_support.setup()
        receiver = self.recorder()
        p = self.start_serve()
        self.ok(p, "POST", "/v1/accounts", {"id": "acme", "name": "Acme"}, status=201)
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

    def sign_in(self, p, key, headers=None):
        """(status, headers, body) of the sign-in form posted with key."""
        form = urllib.parse.urlencode({"key": key, "next": "/admin/events"})
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return harness.request("POST", p.port, "/admin/sign-in", form, h)

    def test_sessions_without_a_browser(self):
        """What a browser test sees less directly: a revoked key ends its session at the next
        request, X-Forwarded-Proto does not make the cookie Secure, the assets' cache."""
        p = self.start_serve()
        k = self.ok(p, "POST", "/v1/access-keys",
                    {"name": "temp", "account": "default", "permissions": LIMITED}, status=201)
        status, h, _ = self.sign_in(p, k["key"], {"X-Forwarded-Proto": "https"})
        self.assertEqual((status, h["location"]), (303, "/admin/events"))
        cookie = h["set-cookie"]
        self.assertRegex(cookie, r"^hookd_session=[0-9a-f]{64}; Path=/admin; HttpOnly; "
                                 r"SameSite=Strict$")
        session = {"Cookie": cookie.split(";")[0]}
        status, _, body = harness.request("GET", p.port, "/admin/events", headers=session)
        self.assertEqual(status, 200)
        self.assertIn(b"Signed in as <strong>temp</strong>", body)
        self.ok(p, "DELETE", "/v1/access-keys/%s" % k["id"], status=204)
        status, h, body = harness.request("GET", p.port, "/admin/events", headers=session)
        self.assertEqual(status, 401)
        self.assertIn(b"Your access key is no longer valid", body)
        self.assertIn("Max-Age=0", h["set-cookie"])
        # a wrong key: 401, no cookie; GET /admin: to the destinations
        status, h, _ = self.sign_in(p, "hk_wrong")
        self.assertEqual(status, 401)
        self.assertNotIn("set-cookie", h)
        status, h, _ = harness.request("GET", p.port, "/admin")
        self.assertEqual((status, h["location"]), (303, "/admin/webhook_destinations"))
        status, h, body = harness.request("GET", p.port, "/admin/webhook_destinations")
        css = re.search(rb'href="(/admin/assets/panel\.css\?v=[0-9a-f]+)"', body).group(1)
        status, h, _ = harness.request("GET", p.port, css.decode())
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/css; charset=utf-8")
        self.assertIn("max-age=31536000", h["cache-control"])
        self.assertEqual(h["content-security-policy"].split(";")[0], "default-src 'self'")

    def test_unknown_account_goes_back_to_default(self):
        """A key of every account that picks an account that does not exist is told so and
        shown the default account, never stuck on an error page."""
        p = self.start_serve()
        _, h, _ = self.sign_in(p, p.token)
        session = {"Cookie": h["set-cookie"].split(";")[0]}
        _, _, body = harness.request("GET", p.port, "/admin/webhook_destinations",
                                     headers=session)
        csrf = re.search(rb'name="csrf" value="([0-9a-f]{64})"', body).group(1).decode()
        form = dict(session, **{"Content-Type": "application/x-www-form-urlencoded"})
        status, h, _ = harness.request("POST", p.port, "/admin/account",
                                       "csrf=%s&account=nope" % csrf, form)
        self.assertEqual((status, h["location"]), (303, "/admin/webhook_destinations"))
        status, h, _ = harness.request("GET", p.port, "/admin/webhook_destinations",
                                       headers=session)
        self.assertEqual((status, h["location"]), (303, "/admin/webhook_destinations"))
        status, _, body = harness.request("GET", p.port, "/admin/webhook_destinations",
                                          headers=session)
        self.assertEqual(status, 200)
        self.assertIn(b"There is no account &quot;nope&quot;", body)
        self.assertIn(b'<option value="default" selected>', body)


if __name__ == "__main__":
    harness.main()
