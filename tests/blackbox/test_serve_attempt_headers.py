"""test_serve_attempt_headers.py — each attempt keeps the answer's header lines (issue 16):
shown as response_headers in GET /v1/webhooks/{id}, whole lines up to 8 KiB, those of the
attempt's own answer; null when no answer came.
HOOKD_BACKENDS: sqlite postgres
"""
import harness
from serve_support import ServeCase


class AttemptHeadersTest(ServeCase):

    def test_headers_kept_capped(self):
        big = "v" * 3000  # three of these fit in 8 KiB, the fourth does not

        def respond(req):
            if req["n"] == 1:
                return 503, {"X-Reason": "busy", "Retry-After": "0"}, b"later", 0
            return 200, {"X-Big-%d" % i: big for i in range(4)}, b"ok", 0

        rec = self.recorder(respond)
        p = self.start_serve()
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "succeeded")
        first, second = w["attempts"]
        self.assertEqual(first["status_code"], 503)
        self.assertIn("X-Reason: busy\r\n", first["response_headers"])
        self.assertNotIn("X-Big", first["response_headers"])
        kept = second["response_headers"]
        self.assertIn("X-Big-0: " + big + "\r\n", kept)
        self.assertNotIn("X-Reason", kept)  # the second answer's own
        self.assertLessEqual(len(kept.encode()), 8192)
        for line in kept.split("\r\n")[:-1]:
            name, _, value = line.partition(": ")
            if name.startswith("X-Big-"):
                self.assertEqual(value, big)  # never a line cut short
        self.assertLess(kept.count("X-Big-"), 4)  # the cap dropped at least one

    def test_answer_not_utf8_is_kept_with_marks(self):
        # Bytes that are not UTF-8 become '?', the ASCII and UTF-8 around them are kept.
        body = b"ok \xff\xfe caf\xc3\xa9 \xe2\x82 end"
        rec = self.recorder(lambda req: (200, {}, body, 0))
        p = self.start_serve()
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "succeeded")
        self.assertEqual(w["attempts"][0]["response"], "ok ?? caf\u00e9 ?? end")

    def test_no_answer_no_headers(self):
        p = self.start_serve(extra=["--max-attempts", "1"])
        self.destination(p, "http://127.0.0.1:%d/hook" % harness.free_port())
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        self.assertIsNone(w["attempts"][0]["response_headers"])
        self.assertIsNone(w["attempts"][0]["status_code"])


if __name__ == "__main__":
    harness.main()
