"""test_serve_delivery.py — what destinations receive from `hookd serve`: signed bodies and
headers, fan-out, retries with fresh signatures, failure after max attempts, timeouts,
redirects, 410, manual retry, recover, delete, secret rotation, per-destination isolation.
HOOKD_BACKENDS: sqlite postgres
"""
import datetime
import json
import threading
import time
import uuid

import harness
from serve_support import ServeCase, body_json, verify


def scripted(statuses, then=200, delay=0):
    """A Recorder responder answering statuses in order, then `then`."""
    def respond(req):
        n = req["n"]
        status = statuses[n - 1] if n <= len(statuses) else then
        return status, {}, b"answer %d" % n, delay
    return respond


class ServeDeliveryTest(ServeCase):

    def test_signed_delivery_exact_body_and_headers(self):
        rec = self.recorder()
        p = self.start_serve()
        d = self.destination(p, rec.url, events=["meeting_links.scheduled"],
                             headers={"X-Tenant": "acme"})
        raw = (b'{"event": "meeting_links.scheduled", "data": {"id": 1234, "event_id": 5,'
               b' "calendar_id": 7, "email": "a@b.c", "name": "Zo\\u00eb", "extra": 1.50}}')
        status, _, out = harness.request("POST", p.port, "/v1/events", raw,
                                         {"Authorization": "Bearer " + p.token,
                                          "Content-Type": "application/json"})
        self.assertEqual(status, 202, out)
        ev = json.loads(out)
        wid = ev["webhooks"][0]["id"]
        self.assertEqual(str(uuid.UUID(wid)), wid)
        self.assertEqual(ev["webhooks"][0]["destination_id"], d["id"])
        harness.wait_until(lambda: rec.count() == 1, what="one delivery")
        req = rec.received()[0]
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["path"], "/hook")
        self.assertEqual(req["body"],
                         b'{"event":"meeting_links.scheduled","data":{"id":1234,"event_id":5,'
                         b'"calendar_id":7,"email":"a@b.c","name":"Zo\\u00eb","extra":1.50}}')
        h = req["headers"]
        self.assertEqual(h["content-type"], "application/json")
        self.assertTrue(h["user-agent"].startswith("hookd/"), h["user-agent"])
        self.assertEqual(h["x-tenant"], "acme")
        self.assertRegex(h["x-webhook-timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        sent = datetime.datetime.strptime(h["x-webhook-timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        now = datetime.datetime.utcnow()
        self.assertLess(abs((now - sent).total_seconds()), 30)
        self.assertRegex(h["x-webhook-signature"], r"^[0-9a-f]{64}$")
        verify(self, req, d["secret"], wid)
        w = self.wait_status(p, wid, "succeeded")
        self.assertEqual(w["attempt_count"], 1)
        self.assertEqual(w["attempts"][0]["status_code"], 200)
        self.assertEqual(w["attempts"][0]["response"], "ok")
        self.assertIsNone(w["attempts"][0]["error"])

    def test_inactive_and_unsubscribed_get_nothing(self):
        a, b, c = self.recorder(), self.recorder(), self.recorder()
        p = self.start_serve()
        da = self.destination(p, a.url)
        self.destination(p, b.url, activate=False)
        self.destination(p, c.url, events=["events.deleted"])
        ev = self.event(p)
        self.assertEqual([w["destination_id"] for w in ev["webhooks"]], [da["id"]])
        harness.wait_until(lambda: a.count() == 1, what="delivery to the active destination")
        time.sleep(0.5)
        self.assertEqual(b.count(), 0)
        self.assertEqual(c.count(), 0)

    def test_retries_then_success_same_id_fresh_signatures(self):
        rec = self.recorder(scripted([500, 503]))
        p = self.start_serve(["--retry-delays", "1100ms"])
        d = self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "succeeded", timeout=15)
        self.assertEqual(rec.count(), 3)
        reqs = rec.received()
        for r in reqs:
            verify(self, r, d["secret"], wid)
        self.assertEqual(len({r["headers"]["x-webhook-timestamp"] for r in reqs}), 3)
        self.assertEqual(len({r["headers"]["x-webhook-signature"] for r in reqs}), 3)
        self.assertEqual(len({r["body"] for r in reqs}), 1)
        self.assertEqual(w["attempt_count"], 3)
        self.assertEqual([a["status_code"] for a in w["attempts"]], [500, 503, 200])
        self.assertEqual([a["n"] for a in w["attempts"]], [1, 2, 3])
        self.assertIsNone(w["next_attempt_at"])
        # ISO 8601 with milliseconds; attempts in order; durations in integer ms
        iso_ms = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
        starts = [a["started_at"] for a in w["attempts"]]
        for t in starts + [w["created_at"], w["updated_at"]]:
            self.assertRegex(t, iso_ms)
        self.assertEqual(starts, sorted(starts))
        self.assertTrue(all(isinstance(a["duration_ms"], int) for a in w["attempts"]))

    def test_always_failing_exactly_five_attempts(self):
        rec = self.recorder(lambda req: (500, {}, b"down", 0))
        p = self.start_serve()
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        self.assertEqual(w["attempt_count"], 5)
        self.assertEqual(len(w["attempts"]), 5)
        self.assertTrue(all(a["status_code"] == 500 for a in w["attempts"]))
        time.sleep(0.6)
        self.assertEqual(rec.count(), 5)
        self.assertEqual({r["headers"]["x-webhook-id"] for r in rec.received()}, {wid})

    def test_slow_receiver_times_out(self):
        rec = self.recorder(lambda req: (200, {}, b"late", 2))
        p = self.start_serve(["--timeout", "500ms", "--max-attempts", "1"])
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        a = w["attempts"][0]
        self.assertIsNone(a["status_code"])
        self.assertIn("timeout", a["error"].lower())
        self.assertLess(a["duration_ms"], 1500)

    def test_redirect_not_followed(self):
        target = self.recorder()
        rec = self.recorder(lambda req: (302, {"Location": target.url}, b"", 0))
        p = self.start_serve(["--max-attempts", "1"])
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        self.assertEqual(w["attempts"][0]["status_code"], 302)
        self.assertEqual(target.count(), 0)

    def test_fan_out_to_twenty_destinations(self):
        rec = self.recorder()
        p = self.start_serve()
        dests = [self.destination(p, "%s/%d" % (rec.url, i)) for i in range(20)]
        ev = self.event(p)
        self.assertEqual(len(ev["webhooks"]), 20)
        ids = [w["id"] for w in ev["webhooks"]]
        self.assertEqual(len(set(ids)), 20)
        self.assertEqual({w["destination_id"] for w in ev["webhooks"]}, {d["id"] for d in dests})
        harness.wait_until(lambda: rec.count() >= 20, what="20 deliveries")
        time.sleep(0.3)
        reqs = rec.received()
        self.assertEqual(len(reqs), 20)
        self.assertEqual({r["headers"]["x-webhook-id"] for r in reqs}, set(ids))
        secrets = {"/hook/%d" % i: d["secret"] for i, d in enumerate(dests)}
        by_dest = {w["destination_id"]: w["id"] for w in ev["webhooks"]}
        for i, d in enumerate(dests):
            r = [r for r in reqs if r["path"] == "/hook/%d" % i]
            self.assertEqual(len(r), 1)
            verify(self, r[0], secrets["/hook/%d" % i], by_dest[d["id"]])

    def test_manual_retry_keeps_id(self):
        healthy = threading.Event()
        rec = self.recorder(lambda req: ((200 if healthy.is_set() else 500), {}, b"", 0))
        p = self.start_serve(["--max-attempts", "2"])
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, wid, "failed")
        self.assertEqual(self.api(p, "POST", "/v1/webhooks/%s/retry" % wid)[0], 202)
        self.wait_status(p, wid, "failed")
        self.assertEqual(rec.count(), 4)
        healthy.set()
        status, w = self.api(p, "POST", "/v1/webhooks/%s/retry" % wid)
        self.assertEqual(status, 202)
        self.assertEqual(w["id"], wid)
        w = self.wait_status(p, wid, "succeeded")
        self.assertEqual(w["attempt_count"], 5)
        self.assertEqual({r["headers"]["x-webhook-id"] for r in rec.received()}, {wid})
        # a retry of a succeeded webhook: a fresh round, same id
        self.assertEqual(self.api(p, "POST", "/v1/webhooks/%s/retry" % wid)[0], 202)
        harness.wait_until(lambda: rec.count() == 6, what="the sixth delivery")
        self.wait_status(p, wid, "succeeded")

    def test_recover_since(self):
        healthy = threading.Event()
        rec = self.recorder(lambda req: ((200 if healthy.is_set() else 500), {}, b"", 0))
        p = self.start_serve(["--max-attempts", "1"])
        d = self.destination(p, rec.url)
        since = harness.now_ts(-5)
        wids = [self.event(p)["webhooks"][0]["id"] for _ in range(2)]
        for wid in wids:
            self.wait_status(p, wid, "failed")
        healthy.set()
        future = harness.now_ts(3600)
        self.assertEqual(self.ok(p, "POST", "/v1/destinations/%s/recover" % d["id"],
                                 {"since": future}, status=202), {"count": 0})
        self.assertEqual(self.ok(p, "POST", "/v1/destinations/%s/recover" % d["id"],
                                 {"since": since}, status=202), {"count": 2})
        for wid in wids:
            self.wait_status(p, wid, "succeeded")
        self.assertEqual(self.api(p, "POST", "/v1/destinations/%s/recover" % d["id"],
                                  {"since": "yesterday"})[0], 422)
        # a time copied from an answer (with milliseconds) is a valid `since`
        created = self.ok(p, "GET", "/v1/webhooks/" + wids[0])["created_at"]
        self.assertEqual(self.ok(p, "POST", "/v1/destinations/%s/recover" % d["id"],
                                 {"since": created}, status=202), {"count": 0})

    def test_gone_deactivates_with_reason(self):
        rec = self.recorder(lambda req: (410, {}, b"gone", 0))
        p = self.start_serve()
        d = self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        self.assertEqual(w["attempt_count"], 1)
        got = self.ok(p, "GET", "/v1/destinations/" + d["id"])
        self.assertFalse(got["active"])
        self.assertIn("410", got["disabled_reason"])
        self.assertEqual(self.event(p)["webhooks"], [])
        self.assertEqual(rec.count(), 1)
        again = self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"])
        self.assertTrue(again["active"])
        self.assertIsNone(again["disabled_reason"])

    def test_failing_for_five_days_deactivates(self):
        rec = self.recorder(lambda req: (500, {}, b"", 0))
        p = self.start_serve(["--max-attempts", "1"])
        d = self.destination(p, rec.url)
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "failed")
        self.assertTrue(self.ok(p, "GET", "/v1/destinations/" + d["id"])["active"])
        six_days = 6 * 24 * 3600 * 1000
        self.db_write("UPDATE serve_destinations SET failing_since = failing_since - %d "
                      "WHERE id = '%s'" % (six_days, d["id"]))
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "failed")
        got = self.ok(p, "GET", "/v1/destinations/" + d["id"])
        self.assertFalse(got["active"])
        self.assertIn("5 days", got["disabled_reason"])

    def test_success_ends_failing_streak(self):
        healthy = threading.Event()
        rec = self.recorder(lambda req: ((200 if healthy.is_set() else 500), {}, b"", 0))
        p = self.start_serve(["--max-attempts", "1"])
        d = self.destination(p, rec.url)
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "failed")
        six_days = 6 * 24 * 3600 * 1000
        self.db_write("UPDATE serve_destinations SET failing_since = failing_since - %d "
                      "WHERE id = '%s'" % (six_days, d["id"]))
        healthy.set()
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "succeeded")
        healthy.clear()
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "failed")
        self.assertTrue(self.ok(p, "GET", "/v1/destinations/" + d["id"])["active"])

    def test_delete_cancels_pending(self):
        rec = self.recorder(lambda req: (500, {}, b"", 0))
        p = self.start_serve(["--retry-delays", "1h"])
        d = self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        harness.wait_until(lambda: self.webhook(p, wid)["attempt_count"] == 1,
                           what="the first attempt")
        self.assertEqual(self.webhook(p, wid)["status"], "pending")
        status, _ = self.api(p, "DELETE", "/v1/destinations/" + d["id"])
        self.assertEqual(status, 204)
        w = self.webhook(p, wid)
        self.assertEqual(w["status"], "cancelled")
        self.assertIsNone(w["next_attempt_at"])
        self.assertEqual(self.api(p, "POST", "/v1/webhooks/%s/retry" % wid)[0], 409)

    def test_rotated_secret_used_for_next_attempt(self):
        rec = self.recorder(scripted([500]))
        p = self.start_serve(["--retry-delays", "1500ms"])
        d = self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        harness.wait_until(lambda: rec.count() == 1, what="the first attempt")
        new = self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % d["id"])["secret"]
        self.wait_status(p, wid, "succeeded")
        first, second = rec.received()
        verify(self, first, d["secret"], wid)
        verify(self, second, new, wid)

    def test_hanging_destination_does_not_delay_others(self):
        slow = self.recorder(lambda req: (200, {}, b"", 5))
        fast = [self.recorder() for _ in range(5)]
        p = self.start_serve(["--timeout", "6s"])
        self.destination(p, slow.url)
        for r in fast:
            self.destination(p, r.url)
        start = time.monotonic()
        for i in range(12):
            self.event(p, data={"id": i, "calendar_id": 1})
        harness.wait_until(lambda: all(r.count() == 12 for r in fast), timeout=5,
                           what="the fast destinations to get every event")
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertLessEqual(slow.count(), 8)  # --max-in-flight-per-destination


if __name__ == "__main__":
    harness.main()
