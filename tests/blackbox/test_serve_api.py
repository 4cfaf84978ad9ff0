"""test_serve_api.py — the REST API of `hookd serve`: auth, destinations, events, webhooks,
errors, Idempotency-Key, the generated admin token, /healthz and /metrics.
HOOKD_BACKENDS: sqlite postgres
"""
import json
import re
import time

import harness
from serve_support import ServeCase, TOKEN


# The time format of every API answer (api_common.h): 2024-08-22T01:04:05.123Z.
ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


class ServeApiTest(ServeCase):

    def assert_error(self, status_body, status, code=None):
        got, body = status_body
        self.assertEqual(got, status, body)
        self.assertIn("error", body)
        self.assertIsInstance(body["error"].get("code"), str)
        self.assertIsInstance(body["error"].get("message"), str)
        if code:
            self.assertEqual(body["error"]["code"], code)
        return body["error"]

    def test_healthz_and_auth(self):
        p = self.start_serve()
        status, _, body = harness.request("GET", p.port, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})
        self.assert_error(self.api(p, "GET", "/v1/destinations", token=""), 401)
        self.assert_error(self.api(p, "GET", "/v1/destinations", token="wrong-token-x"), 401)
        self.assert_error(self.api(p, "GET", "/v1/destinations", token=TOKEN + "x"), 401)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations"), {"data": []})
        self.assert_error(self.api(p, "GET", "/v1/nothing-here"), 404, "not_found")
        self.assert_error(self.api(p, "GET", "/nothing"), 404, "not_found")
        status, headers, body = harness.request("PUT", p.port, "/v1/destinations", b"{}",
                                                {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 405, body)
        self.assertEqual(json.loads(body)["error"]["code"], "method_not_allowed")
        self.assertEqual({k.lower(): v for k, v in headers.items()}.get("allow"), "GET, POST")

    def test_destination_lifecycle(self):
        p = self.start_serve()
        d = self.ok(p, "POST", "/v1/destinations",
                    {"name": "crm", "url": "http://127.0.0.1:9/hook", "events": ["events.created"],
                     "description": "the CRM", "headers": {"X-Tenant": "42"}}, status=201)
        self.assertFalse(d["active"])
        self.assertTrue(d["secret"])
        self.assertEqual(d["events"], ["events.created"])
        self.assertEqual(d["headers"], {"X-Tenant": "42"})
        did = d["id"]

        listed = self.ok(p, "GET", "/v1/destinations")["data"]
        self.assertEqual([x["id"] for x in listed], [did])
        self.assertNotIn("secret", listed[0])
        got = self.ok(p, "GET", "/v1/destinations/" + did)
        self.assertNotIn("secret", got)
        self.assertEqual(got["name"], "crm")

        patched = self.ok(p, "PATCH", "/v1/destinations/" + did,
                          {"name": "crm2", "events": ["events.created", "events.deleted"]})
        self.assertEqual(patched["name"], "crm2")
        self.assertEqual(patched["events"], ["events.created", "events.deleted"])
        self.assertEqual(patched["url"], "http://127.0.0.1:9/hook")

        self.assertEqual(self.ok(p, "GET", "/v1/destinations/%s/secret" % did),
                         {"secret": d["secret"], "previous": []})
        rotated = self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % did)
        self.assertNotEqual(rotated["secret"], d["secret"])
        self.assertEqual(self.ok(p, "GET", "/v1/destinations/%s/secret" % did), rotated)

        self.assertTrue(self.ok(p, "POST", "/v1/destinations/%s/activate" % did)["active"])
        self.assertFalse(self.ok(p, "POST", "/v1/destinations/%s/deactivate" % did)["active"])

        status, body = self.api(p, "DELETE", "/v1/destinations/" + did)
        self.assertEqual(status, 204)
        self.assert_error(self.api(p, "GET", "/v1/destinations/" + did), 404)
        self.assert_error(self.api(p, "DELETE", "/v1/destinations/" + did), 404)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations"), {"data": []})

    def test_not_found(self):
        p = self.start_serve()
        zero = "00000000-0000-4000-8000-000000000000"
        for path in ["/v1/destinations/" + zero, "/v1/destinations/%s/secret" % zero,
                     "/v1/events/" + zero, "/v1/webhooks/" + zero, "/v1/webhooks/nope"]:
            self.assert_error(self.api(p, "GET", path), 404)
        for path in ["/v1/destinations/%s/activate" % zero, "/v1/webhooks/%s/retry" % zero,
                     "/v1/destinations/%s/secret/rotate" % zero]:
            self.assert_error(self.api(p, "POST", path), 404)
        self.assert_error(self.api(p, "PATCH", "/v1/destinations/" + zero, {"name": "x"}), 404)
        self.assert_error(self.api(p, "POST", "/v1/destinations/%s/recover" % zero,
                                   {"since": "2024-01-01T00:00:00Z"}), 404)

    def test_destination_validation(self):
        p = self.start_serve()
        url = "http://127.0.0.1:9/hook"
        status, _, body = harness.request("POST", p.port, "/v1/destinations", b"{not json",
                                          {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 400)
        bad = [
            {"url": url, "events": ["events.created"]},                       # no name
            {"name": "x", "events": ["events.created"]},                      # no url
            {"name": "x", "url": url},                                        # no events
            {"name": "x", "url": url, "events": ["no.such.type"]},            # unknown type
            {"name": "x", "url": url, "events": "events.created"},            # not an array
            {"name": "x", "url": "ftp://example.com/", "events": ["events.created"]},
            {"name": "x", "url": url, "events": ["events.created"],
             "headers": {"X-Webhook-Signature": "forged"}},                   # reserved header
            {"name": "x", "url": url, "events": ["events.created"],
             "headers": {"X-A": "a\r\nX-B: b"}},                              # header injection
        ]
        for body in bad:
            self.assert_error(self.api(p, "POST", "/v1/destinations", body), 422)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations"), {"data": []})

    def test_http_url_refused_without_allow_http(self):
        p = self.start_serve(allow_http=False)
        err = self.assert_error(self.api(p, "POST", "/v1/destinations",
                                         {"name": "x", "url": "http://example.com/hook",
                                          "events": ["events.created"]}), 422)
        self.assertIn("http", err["message"])
        d = self.ok(p, "POST", "/v1/destinations",
                    {"name": "x", "url": "https://example.com/hook",
                     "events": ["events.created"]}, status=201)
        self.assertEqual(d["url"], "https://example.com/hook")

    def test_event_validation(self):
        p = self.start_serve()
        self.assert_error(self.api(p, "POST", "/v1/events",
                                   {"event": "no.such.type", "data": {"id": 1}}), 422,
                          "unknown_event_type")
        self.assert_error(self.api(p, "POST", "/v1/events",
                                   {"event": "events.created", "data": {"id": 1}}), 422)
        self.assert_error(self.api(p, "POST", "/v1/events",
                                   {"event": "events.created",
                                    "data": {"id": 1, "calendar_id": "two"}}), 422)
        self.assert_error(self.api(p, "POST", "/v1/events",
                                   {"event": "meeting_links.scheduled",
                                    "data": {"id": 1, "event_id": 2, "calendar_id": 3}}), 422)
        self.assert_error(self.api(p, "POST", "/v1/events",
                                   {"event": "events.created", "data": [1, 2]}), 422)
        self.assert_error(self.api(p, "POST", "/v1/events", {"data": {"id": 1}}), 422)
        status, _, _ = harness.request("POST", p.port, "/v1/events", b'{"event":',
                                       {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 400)
        big = {"event": "events.created",
               "data": {"id": 1, "calendar_id": 2, "pad": "x" * (257 * 1024)}}
        self.assert_error(self.api(p, "POST", "/v1/events", big), 413)
        # a valid one with no destination: accepted, no webhooks
        ev = self.event(p)
        self.assertEqual(ev["webhooks"], [])
        self.assertEqual(ev["event"], "events.created")
        got = self.ok(p, "GET", "/v1/events/" + ev["id"])
        self.assertEqual(got["data"], {"id": 1, "calendar_id": 2})
        # times are ISO 8601 UTC with milliseconds, the same in every answer of both APIs
        self.assertRegex(ev["created_at"], ISO_MS)
        self.assertEqual(got["created_at"], ev["created_at"])
        types = self.ok(p, "GET", "/v1/event-types")["data"]
        self.assertIn("meeting_links.scheduled", [t["type"] for t in types])

    def test_idempotency_key(self):
        rec = self.recorder()
        p = self.start_serve()
        d = self.destination(p, rec.url)
        key = {"Idempotency-Key": "order-17"}
        first = self.event(p, headers=key)
        second = self.event(p, data={"id": 2, "calendar_id": 3}, headers=key)
        self.assertEqual(first, second)
        other = self.event(p, headers={"Idempotency-Key": "order-18"})
        self.assertNotEqual(other["id"], first["id"])
        listed = self.ok(p, "GET", "/v1/webhooks?destination_id=" + d["id"])["data"]
        self.assertEqual(len(listed), 2)
        harness.wait_until(lambda: rec.count() >= 2, what="two deliveries")
        time.sleep(0.3)
        self.assertEqual(rec.count(), 2)

    def test_webhook_list_filters_and_cursor(self):
        rec = self.recorder()
        p = self.start_serve()
        d1 = self.destination(p, rec.url + "/1")
        d2 = self.destination(p, rec.url + "/2")
        events = [self.event(p, data={"id": i, "calendar_id": 1}) for i in range(3)]
        for ev in events:
            self.assertEqual(sorted(w["destination_id"] for w in ev["webhooks"]),
                             sorted([d1["id"], d2["id"]]))
        seen = []
        page = self.ok(p, "GET", "/v1/webhooks?limit=4")
        self.assertEqual(len(page["data"]), 4)
        self.assertIsNotNone(page["next"])
        seen += [w["id"] for w in page["data"]]
        page = self.ok(p, "GET", "/v1/webhooks?limit=4&after=" + page["next"])
        self.assertEqual(len(page["data"]), 2)
        self.assertIsNone(page["next"])
        seen += [w["id"] for w in page["data"]]
        all_ids = {w["id"] for ev in events for w in ev["webhooks"]}
        self.assertEqual(set(seen), all_ids)
        self.assertEqual(len(seen), 6)

        by_dest = self.ok(p, "GET", "/v1/webhooks?destination_id=" + d1["id"])["data"]
        self.assertEqual(len(by_dest), 3)
        self.assertTrue(all(w["destination_id"] == d1["id"] for w in by_dest))
        by_event = self.ok(p, "GET", "/v1/webhooks?event_id=" + events[0]["id"])["data"]
        self.assertEqual(len(by_event), 2)
        harness.wait_until(
            lambda: len(self.ok(p, "GET", "/v1/webhooks?status=succeeded")["data"]) == 6,
            what="six succeeded webhooks")
        self.assertEqual(self.ok(p, "GET", "/v1/webhooks?status=pending")["data"], [])
        # a malformed query parameter is 400 invalid_parameter, as on the receiver's admin API
        for query in ("status=bogus", "limit=0", "limit=101", "limit=5x", "after=garbage"):
            self.assert_error(self.api(p, "GET", "/v1/webhooks?" + query), 400,
                              "invalid_parameter")
        ev = self.ok(p, "GET", "/v1/events/" + events[1]["id"])
        self.assertEqual(len(ev["webhooks"]), 2)
        self.assertTrue(all(w["status"] == "succeeded" for w in ev["webhooks"]))

    def test_generated_token(self):
        port = harness.free_port()
        p = self.start_serve(token=None, env={"HOOKD_API_TOKEN": ""}, port=port)
        line = harness.wait_until(
            lambda: re.search(r"admin token: (\S+)", p.output()), what="the admin token line")
        token = line.group(1)
        self.assertEqual(self.api(p, "GET", "/v1/destinations", token=token)[0], 200)
        self.assertEqual(self.api(p, "GET", "/v1/destinations", token="nope-nope")[0], 401)
        self.assertEqual(p.terminate(), 0)
        q = self.start_serve(token=None, env={"HOOKD_API_TOKEN": ""}, port=port)
        self.assertEqual(self.api(q, "GET", "/v1/destinations", token=token)[0], 200)
        self.assertNotIn("admin token:", q.output())
        self.assertNotIn(token, q.output())
        rows = q.db.query("SELECT value FROM serve_settings")
        self.assertTrue(all(token not in r[0] for r in rows))

    def test_metrics(self):
        rec = self.recorder()
        p = self.start_serve()
        self.destination(p, rec.url)
        ev = self.event(p)
        self.wait_status(p, ev["webhooks"][0]["id"], "succeeded")
        status, headers, body = harness.request("GET", p.port, "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertRegex(text, r'hookd_webhooks\{status="succeeded"\} 1\b')
        self.assertRegex(text, r'hookd_webhooks\{status="pending"\} 0\b')
        self.assertRegex(text, r'hookd_attempts_total\{result="success"\} 1\b')
        self.assertIn("hookd_attempt_duration_ms_bucket", text)
        self.assertRegex(text, r"hookd_queue_depth \d+")


if __name__ == "__main__":
    harness.main()
