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
import html
import json
import os
import re
import time
import urllib.parse
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
        # "newest first" orders by the millisecond a webhook came in (then by id): the second
        # must come in a later millisecond, or the order of the two would be the ids' chance
        time.sleep(0.01)
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


class PanelReceivePages(harness.TestCase):
    """The panel's pages as plain HTTP (no browser): what no browser walk reaches cheaply —
    pages of 50, an id that needs escaping and percent-encoding, a capped body, refusals."""

    def setUp(self):
        super().setUp()
        self.port, self.admin = harness.free_port(), harness.free_port()
        self.p = self.hookd(["receive", "--listen", "127.0.0.1:%d" % self.port,
                             "--admin-listen", "127.0.0.1:%d" % self.admin, "--db",
                             self.database().url, "--secret", SECRET, "--exec", "cat >/dev/null"],
                            wait_port=self.port)
        self.p.wait_listening(self.admin)
        self.cookie = None

    def get(self, path, method="GET", form=None):
        headers = {"Authorization": None}  # the panel never takes the bearer token
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, h, data = harness.request(method, self.admin, path, body, headers)
        return status, h, data.decode()

    def sign_in(self, token):
        status, h, page = self.get("/admin/sign-in", "POST", {"token": token})
        if "set-cookie" in h:
            self.cookie = h["set-cookie"].split(";")[0]
        return status, h, page

    def csrf(self, page):
        return re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)

    def test_pages_paging_escaping_and_refusals(self):
        for i in range(53):
            body = '{"event":"events.created","data":{"n":%d}}' % i
            wid = "wh-%03d" % i
            status, _, _ = harness.request("POST", self.port, "/", body,
                                           harness.signed_headers(SECRET, body, wid=wid))
            self.assertEqual(status, 200)
        odd = '<b>a/b&"c"?#%'
        big = json.dumps({"event": "events.created", "data": {"text": "x" + "é" * 12000}},
                         ensure_ascii=False)
        status, _, _ = harness.request("POST", self.port, "/", big,
                                       harness.signed_headers(SECRET, big, wid=odd))
        self.assertEqual(status, 200)
        harness.wait_until(lambda: harness.json_request(
            "GET", self.admin, "/webhooks?status=pending")[1]["data"] == [], 20,
            what="every webhook handled")

        # nothing without a session, and a wrong token gets none
        self.assertEqual(self.get("/admin/inbox")[1]["location"], "/admin/sign-in")
        status, h, _ = self.get("/admin/webhooks/wh-001/retry", "POST", {"csrf": "0" * 64})
        self.assertEqual((status, h["location"]), (303, "/admin/sign-in"))
        status, h, page = self.sign_in("hk_wrong_wrong_wrong")
        self.assertEqual(status, 401)
        self.assertNotIn("set-cookie", h)
        self.assertIn("That is not the admin token.", page)
        status, h, _ = self.sign_in(harness.ADMIN_TOKEN)
        self.assertEqual((status, h["location"]), (303, "/admin/inbox"))
        # a link from another site may open a page (its cookie would not come along), but
        # no other request from another site's page gets in
        cross = {"Sec-Fetch-Site": "cross-site", "Cookie": self.cookie}
        status, _, _ = harness.request("GET", self.admin, "/admin/inbox", None,
                                       dict(cross, **{"Sec-Fetch-Mode": "navigate"}))
        self.assertEqual(status, 200)
        status, _, _ = harness.request("GET", self.admin, "/admin/inbox", None,
                                       dict(cross, **{"Sec-Fetch-Mode": "cors"}))
        self.assertEqual(status, 403)
        status, _, _ = harness.request("POST", self.admin, "/admin/sign-out", "csrf=x",
                                       dict(cross, **{"Sec-Fetch-Mode": "navigate"}))
        self.assertEqual(status, 403)

        # pages of 50, newest first; the odd id escaped in the text, encoded in the link
        status, _, page = self.get("/admin/inbox?status=done")
        self.assertEqual(status, 200)
        self.assertIn("Done (54)", page)
        rows = re.findall(r'<tr><td><time.*?</tr>', page)
        self.assertEqual(len(rows), 50)
        self.assertNotIn(odd, page)
        self.assertIn("&lt;b&gt;a/b&amp;&quot;c&quot;?#%", rows[0])
        href = re.search(r'<a href="(/admin/webhooks/[^"]+)"', rows[0]).group(1)
        self.assertEqual(href, "/admin/webhooks/" + urllib.parse.quote(odd, safe=""))
        self.assertIn("wh-052", rows[1])
        self.assertIn("wh-004", rows[49])
        nxt = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page).group(1)
        status, _, page2 = self.get(html.unescape(nxt))
        self.assertEqual(status, 200)
        self.assertEqual(len(re.findall(r"<tr><td><time", page2)), 4)
        self.assertIn("wh-000", page2)
        self.assertNotIn("Next page", page2)
        self.assertIn('href="/admin/inbox?status=done">Newest</a>', page2)
        self.assertEqual(self.get("/admin/inbox?status=bogus")[0], 400)

        # the odd webhook's page: its body cut at 16 KiB on a character boundary
        status, _, page = self.get(href)
        self.assertEqual(status, 200)
        raw, cut = big.encode(), 16384
        while raw[cut] & 0xC0 == 0x80:  # (not inside a character)
            cut -= 1
        self.assertLess(cut, 16384)
        self.assertTrue("The first %d of %d bytes:" % (cut, len(raw)) in page, page[:2000])
        shown = re.search(r'<pre class="mono">(.*?)</pre>', page, re.S).group(1)
        self.assertEqual(html.unescape(shown).encode(), raw[:cut])
        self.assertEqual(self.get("/admin/webhooks/no-such-id")[0], 404)

        # Retry needs the session's CSRF token; then it is the admin API's retry
        self.assertEqual(self.get(href + "/retry", "POST", {"csrf": "0" * 64})[0], 403)
        self.assertEqual(self.get(href + "/retry")[0], 405)
        status, h, _ = self.get(href + "/retry", "POST", {"csrf": self.csrf(page)})
        self.assertEqual((status, h["location"]), (303, href))
        def runs_of_odd():  # (the admin API's /webhooks/{id} cannot name an id with a '/')
            listed = harness.json_request("GET", self.admin, "/webhooks?limit=1000")[1]["data"]
            return [w["runs"] for w in listed if w["id"] == odd][0]
        harness.wait_until(lambda: runs_of_odd() == 2, what="the retried run")
        self.assertIn("Retry queued", self.get(href)[2])

        # sign-out needs the token too, and ends the session
        status, h, _ = self.get("/admin/sign-out", "POST", {})
        self.assertEqual(self.get("/admin/inbox")[0], 200)
        status, h, _ = self.get("/admin/sign-out", "POST", {"csrf": self.csrf(page)})
        self.assertEqual((status, h["location"]), (303, "/admin/sign-in"))
        self.assertEqual(self.get("/admin/inbox")[0], 303)


if __name__ == "__main__":
    harness.main()
