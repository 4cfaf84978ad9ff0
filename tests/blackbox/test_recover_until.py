"""test_recover_until.py — POST /v1/destinations/{id}/recover with `until`: only the failed
webhooks created in [since, until) are attempted again; a bad or inverted bound is 422.
HOOKD_BACKENDS: sqlite postgres
"""
import threading
import time

import harness
from serve_support import ServeCase


class RecoverUntilTest(ServeCase):

    def test_until_bounds_the_window(self):
        healthy = threading.Event()
        rec = self.recorder(lambda req: ((200 if healthy.is_set() else 500), {}, b"", 0))
        p = self.start_serve(["--max-attempts", "1"])
        d = self.destination(p, rec.url)
        since = harness.now_ts(-5)
        early = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, early, "failed")
        time.sleep(1.1)  # the bound below has whole seconds: the early webhook is before it
        middle = harness.now_ts()
        time.sleep(1.1)
        late = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, late, "failed")
        healthy.set()
        path = "/v1/destinations/%s/recover" % d["id"]
        self.assertEqual(self.ok(p, "POST", path, {"since": since, "until": middle}, status=202),
                         {"count": 1})
        self.wait_status(p, early, "succeeded")
        self.assertEqual(self.webhook(p, late)["status"], "failed")
        # Unix seconds work for until too; the rest of the window holds the late one
        until = int(time.time()) + 60
        self.assertEqual(self.ok(p, "POST", path, {"since": middle, "until": until},
                                 status=202), {"count": 1})
        self.wait_status(p, late, "succeeded")

    def test_bad_until(self):
        p = self.start_serve()
        d = self.destination(p, "http://127.0.0.1:9/hook", activate=False)
        path = "/v1/destinations/%s/recover" % d["id"]
        since = harness.now_ts(-60)
        for until in ("tomorrow", -1, True):
            status, body = self.api(p, "POST", path, {"since": since, "until": until})
            self.assertEqual((status, body["error"]["code"]), (422, "invalid_until"), until)
        status, body = self.api(p, "POST", path, {"since": since, "until": since})
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_until"))
        self.assertIn("later than since", body["error"]["message"])


if __name__ == "__main__":
    harness.main()
