"""test_serve_policy.py — `hookd serve`'s retry policy as a destination sees it (Retry-After on
429/503 lengthens the next wait, never beyond the longest configured delay) and the
event-type catalog replaced or extended from a file.
HOOKD_BACKENDS: sqlite postgres
"""
import json
import os

import harness
from serve_support import ServeCase


def answers(first_status, first_headers):
    """A responder: the first request gets first_status/first_headers, later ones 200."""
    def respond(req):
        if req["n"] == 1:
            return first_status, first_headers, b"slow down", 0
        return 200, {}, b"ok", 0
    return respond


class ServePolicyTest(ServeCase):

    def gap_between_first_two_attempts(self, rec, p):
        """Seconds between the first and second delivery of the one webhook posted."""
        wid = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, wid, "succeeded", timeout=15)
        reqs = rec.received()
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[0]["headers"]["x-webhook-id"], reqs[1]["headers"]["x-webhook-id"])
        return reqs[1]["time"] - reqs[0]["time"]

    def test_429_without_retry_after_uses_the_configured_delay(self):
        rec = self.recorder(answers(429, {}))
        p = self.start_serve(["--retry-delays", "200ms,3s"])
        self.destination(p, rec.url)
        gap = self.gap_between_first_two_attempts(rec, p)
        self.assertLess(gap, 0.8, "a 200 ms delay (±10%%) took %.2f s" % gap)

    def test_retry_after_on_429_lengthens_the_next_wait(self):
        rec = self.recorder(answers(429, {"Retry-After": "1"}))
        p = self.start_serve(["--retry-delays", "200ms,3s"])
        self.destination(p, rec.url)
        gap = self.gap_between_first_two_attempts(rec, p)
        self.assertGreaterEqual(gap, 0.95, "Retry-After: 1 was not honoured (%.2f s)" % gap)
        self.assertLess(gap, 2.5)

    def test_retry_after_on_503_is_capped_at_the_longest_delay(self):
        rec = self.recorder(answers(503, {"Retry-After": "3600"}))
        p = self.start_serve(["--retry-delays", "200ms,1500ms"])
        self.destination(p, rec.url)
        gap = self.gap_between_first_two_attempts(rec, p)
        # Never beyond the longest delay in the list (1.5 s, jittered by at most 10%).
        self.assertGreaterEqual(gap, 1.3, "Retry-After did not lengthen the wait (%.2f s)" % gap)
        self.assertLess(gap, 1.5 * 1.1 + 0.8, "wait not capped (%.2f s)" % gap)

    def test_retry_after_ignored_on_other_statuses(self):
        rec = self.recorder(answers(500, {"Retry-After": "3"}))
        p = self.start_serve(["--retry-delays", "200ms,5s"])
        self.destination(p, rec.url)
        gap = self.gap_between_first_two_attempts(rec, p)
        self.assertLess(gap, 0.8, "Retry-After on a 500 changed the wait (%.2f s)" % gap)

    def write_catalog(self):
        path = os.path.join(self.tmp, "types.json")
        with open(path, "w") as f:
            json.dump({"event_types": [
                {"type": "invoices.paid", "description": "an invoice was paid",
                 "fields": {"id": "number", "amount": "number", "note": "string?"}}]}, f)
        return path

    def test_event_types_file_extends_the_catalog(self):
        p = self.start_serve(["--event-types", self.write_catalog()])
        types = {t["type"] for t in self.ok(p, "GET", "/v1/event-types")["data"]}
        self.assertIn("invoices.paid", types)
        self.assertIn("meeting_links.scheduled", types)
        rec = self.recorder()
        self.destination(p, rec.url, events=["invoices.paid"])
        status, err = self.api(p, "POST", "/v1/events",
                               {"event": "invoices.paid", "data": {"id": 1}})
        self.assertEqual(status, 422)
        self.assertIn("amount", err["error"]["message"])
        ev = self.event(p, "invoices.paid", {"id": 1, "amount": 250})
        self.assertEqual(len(ev["webhooks"]), 1)
        harness.wait_until(lambda: rec.count() == 1, what="the custom event's delivery")
        self.assertEqual(json.loads(rec.received()[0]["body"])["event"], "invoices.paid")
        self.event(p, "events.created", {"id": 1, "calendar_id": 2})

    def test_event_types_only_replaces_the_catalog(self):
        p = self.start_serve(["--event-types", self.write_catalog(), "--event-types-only"])
        types = [t["type"] for t in self.ok(p, "GET", "/v1/event-types")["data"]]
        self.assertEqual(types, ["invoices.paid"])
        status, err = self.api(p, "POST", "/v1/events",
                               {"event": "events.created", "data": {"id": 1, "calendar_id": 2}})
        self.assertEqual(status, 422, err)

    def test_bad_event_types_file_stops_the_start_with_a_reason(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{"event_types": [{"type": "x.y", "fields": {"id": "numbr"}}]}')
        code, out, err = self.run_hookd(["serve", "--db", "sqlite:" + os.path.join(self.tmp, "x.db"),
                                         "--listen", "127.0.0.1:%d" % harness.free_port(),
                                         "--api-token", "a-long-enough-token", "--event-types", path], timeout=15)
        self.assertNotEqual(code, 0)
        self.assertIn("event_types[0].fields.id must be one of", err + out)


if __name__ == "__main__":
    harness.main()
