"""test_serve_ops.py — operational webhooks (issue 16): destination.deactivated, webhook.failed and
destination.recovered reach a real operator destination, signed, through the engine; they stay
in the account of the destination concerned; an operator destination that fails itself causes
no loop; a kill -9 around the outcome neither loses nor doubles one.
HOOKD_BACKENDS: sqlite postgres
"""
import threading
import time

import harness
from serve_support import ServeCase, body_json, verify

OPS = ["destination.deactivated", "webhook.failed", "destination.recovered"]


def scripted(statuses, then=200):
    """A Recorder responder answering statuses in order, then `then`."""
    def respond(req):
        n = req["n"]
        return (statuses[n - 1] if n <= len(statuses) else then), {}, b"", 0
    return respond


class OpsTest(ServeCase):
    def operator(self, p, respond=None, account=None):
        """A recording operator destination subscribed to the operational types."""
        rec = self.recorder(respond)
        headers = {"X-Account-Id": account} if account else None
        body = {"name": "operator", "url": rec.url, "events": OPS}
        d = self.ok(p, "POST", "/v1/destinations", body, status=201, headers=headers)
        self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"], headers=headers)
        return rec, d

    def ops_of(self, rec, event=None, count=1, timeout=10.0):
        """Waits until rec got count operational webhooks (of type event); returns them."""
        def check():
            got = [r for r in rec.received()
                   if event is None or body_json(r)["event"] == event]
            return got if len(got) >= count else None
        return harness.wait_until(check, timeout, interval=0.02,
                                  what="%d %s webhook(s)" % (count, event or "operational"))

    def test_gone_reaches_the_operator_within_a_second_signed(self):
        p = self.start_serve()
        op, opd = self.operator(p)
        gone = self.recorder(lambda req: (410, {}, b"gone", 0))
        d = self.destination(p, gone.url)
        wid = self.event(p)["webhooks"][0]["id"]
        [req] = self.ops_of(op, "destination.deactivated")
        [answered] = gone.received()
        self.assertLess(req["time"] - answered["time"], 1.0)
        verify(self, req, opd["secret"])
        body = body_json(req)
        data = body["data"]
        self.assertEqual(data["destination_id"], d["id"])
        self.assertEqual(data["account"], "default")
        self.assertEqual(data["reason"], "gone")
        self.assertEqual(data["status_code"], 410)
        self.assertEqual(data["webhook_id"], wid)
        self.assertRegex(data["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # the 410 also failed the webhook for good
        [failed] = self.ops_of(op, "webhook.failed")
        self.assertEqual(body_json(failed)["data"]["webhook_id"], wid)
        # they are ordinary webhooks of the operator destination, succeeded once their outcome
        # is recorded, which comes after the operator's answer
        listing = "/v1/webhooks?destination_id=" + opd["id"]
        harness.wait_until(
            lambda: sorted(w["status"] for w in self.ok(p, "GET", listing)["data"]) ==
            ["succeeded", "succeeded"], 10.0, what="both alerts recorded as succeeded")
        self.assertFalse(self.ok(p, "GET", "/v1/destinations/" + d["id"])["active"])

    def test_exhausted_attempts_emit_webhook_failed(self):
        p = self.start_serve(["--max-attempts", "2"])
        op, opd = self.operator(p)
        bad = self.recorder(lambda req: (500, {}, b"down", 0))
        d = self.destination(p, bad.url)
        ev = self.event(p)
        wid = ev["webhooks"][0]["id"]
        [req] = self.ops_of(op, "webhook.failed")
        verify(self, req, opd["secret"])
        data = body_json(req)["data"]
        self.assertEqual(data["webhook_id"], wid)
        self.assertEqual(data["event_id"], ev["id"])
        self.assertEqual(data["event_type"], "events.created")
        self.assertEqual(data["destination_id"], d["id"])
        self.assertEqual(data["attempt_count"], 2)
        self.assertEqual(data["status_code"], 500)
        self.assertEqual(data["error"], "HTTP status 500")
        self.assertEqual(bad.count(), 2)
        # a retry (not yet final) emits nothing: exactly one operational webhook so far
        time.sleep(0.5)
        self.assertEqual(op.count(), 1)
        self.assertTrue(self.ok(p, "GET", "/v1/destinations/" + d["id"])["active"])

    def test_failing_window_deactivation_says_failing(self):
        p = self.start_serve(["--max-attempts", "1"])
        op, _ = self.operator(p)
        bad = self.recorder(lambda req: (503, {}, b"", 0))
        d = self.destination(p, bad.url)
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "failed")
        self.db_write("UPDATE serve_destinations SET failing_since = failing_since - %d "
                      "WHERE id = '%s'" % (6 * 24 * 3600 * 1000, d["id"]))
        self.event(p)
        [req] = self.ops_of(op, "destination.deactivated")
        data = body_json(req)["data"]
        self.assertEqual((data["destination_id"], data["reason"], data["status_code"]),
                         (d["id"], "failing", 503))

    def test_recovered_after_an_alert_once(self):
        p = self.start_serve(["--max-attempts", "2"])
        op, opd = self.operator(p)
        flaky = self.recorder(scripted([500, 500]))
        d = self.destination(p, flaky.url)
        wid = self.event(p)["webhooks"][0]["id"]
        self.ops_of(op, "webhook.failed")
        self.assertEqual([body_json(r)["event"] for r in op.received()], ["webhook.failed"])
        self.ok(p, "POST", "/v1/webhooks/%s/retry" % wid, status=202)
        [req] = self.ops_of(op, "destination.recovered")
        verify(self, req, opd["secret"])
        data = body_json(req)["data"]
        self.assertEqual(data["destination_id"], d["id"])
        self.assertEqual(data["webhook_id"], wid)
        self.assertEqual(data["account"], "default")
        self.assertLessEqual(data["alerted_at"], data["at"])
        # a later success is no recovery: nothing was alerted since
        self.wait_status(p, self.event(p)["webhooks"][0]["id"], "succeeded")
        time.sleep(0.5)
        self.assertEqual(len(self.ops_of(op, "destination.recovered")), 1)
        # a failure retried to success without an alert in between emits nothing either
        self.assertEqual(op.count(), 2)

    def test_recovered_after_reactivation(self):
        p = self.start_serve()
        op, _ = self.operator(p)
        answers = [410]
        dest = self.recorder(lambda req: ((answers.pop() if answers else 200), {}, b"", 0))
        d = self.destination(p, dest.url)
        self.event(p)
        self.ops_of(op, "destination.deactivated")
        self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"])
        self.event(p)
        [req] = self.ops_of(op, "destination.recovered")
        self.assertEqual(body_json(req)["data"]["destination_id"], d["id"])

    def test_operator_that_fails_itself_causes_no_loop(self):
        p = self.start_serve(["--max-attempts", "2"])
        broken, brokend = self.operator(p, lambda req: (410, {}, b"", 0))
        good, _ = self.operator(p)
        gone = self.recorder(lambda req: (410, {}, b"", 0))
        d = self.destination(p, gone.url)
        self.event(p)
        self.ops_of(good, count=2)
        harness.wait_until(
            lambda: not self.ok(p, "GET", "/v1/destinations/" + brokend["id"])["active"],
            10.0, what="the broken operator destination to be deactivated")
        time.sleep(1.0)
        # the good operator heard only about the customer's destination, never about the
        # operator destination whose own operational webhooks failed
        about = [body_json(r)["data"]["destination_id"] for r in good.received()]
        self.assertEqual(about, [d["id"], d["id"]])
        self.assertLessEqual(broken.count(), 2)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations/" + brokend["id"])
                         ["disabled_reason"], "the destination answered 410 Gone")

    def test_types_subscribable_not_postable_and_scoped_to_the_account(self):
        p = self.start_serve()
        op, _ = self.operator(p)
        for t in OPS:
            got, err = self.api(p, "POST", "/v1/events", {"event": t, "data": {}})
            self.assertEqual((got, err["error"]["code"]), (422, "unknown_event_type"), t)
        self.ok(p, "POST", "/v1/accounts", {"id": "acme", "name": "Acme"}, status=201)
        acme_op, _ = self.operator(p, account="acme")
        gone = self.recorder(lambda req: (410, {}, b"", 0))
        acme = {"X-Account-Id": "acme"}
        d = self.ok(p, "POST", "/v1/destinations",
                    {"name": "a", "url": gone.url, "events": ["events.created"]},
                    status=201, headers=acme)
        self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"], headers=acme)
        self.ok(p, "POST", "/v1/events",
                {"event": "events.created", "data": {"id": 1, "calendar_id": 2}},
                status=202, headers=acme)
        [req] = self.ops_of(acme_op, "destination.deactivated")
        self.assertEqual(body_json(req)["data"]["account"], "acme")
        time.sleep(0.5)
        self.assertEqual(op.count(), 0)  # default's operator hears nothing of acme

    def test_kill9_mid_attempt_neither_loses_nor_doubles(self):
        arrived = threading.Event()
        release = threading.Event()

        def respond(req):
            arrived.set()
            if req["n"] == 1:
                release.wait(10)  # the first attempt is cut by the kill
            return 410, {}, b"", 0
        gone = self.recorder(respond)
        p = self.start_serve()
        op, opd = self.operator(p)
        self.destination(p, gone.url)
        self.event(p)
        self.assertTrue(arrived.wait(10))
        p.kill9()
        release.set()
        # restarted, it attempts again the webhook whose outcome was never recorded
        p2 = self.start_serve(db=p.db, port=p.port)  # same place: its leases are released
        self.ops_of(op, count=2)
        time.sleep(1.0)
        kinds = sorted(body_json(r)["event"] for r in op.received())
        self.assertEqual(kinds, ["destination.deactivated", "webhook.failed"])
        self.assertEqual(len({r["headers"]["x-webhook-id"] for r in op.received()}), 2)
        ops = self.ok(p2, "GET", "/v1/webhooks?destination_id=" + opd["id"])["data"]
        self.assertEqual(len(ops), 2)

    def test_kill9_while_the_alert_is_sent_delivers_it_after_restart(self):
        arrived = threading.Event()
        release = threading.Event()

        def respond(req):
            if req["n"] == 1:
                arrived.set()
                release.wait(10)  # the first alert's attempt is cut by the kill
            return 200, {}, b"", 0
        p = self.start_serve()
        op, opd = self.operator(p, respond)
        self.destination(p, self.recorder(lambda req: (410, {}, b"", 0)).url)
        self.event(p)
        self.assertTrue(arrived.wait(10))
        p.kill9()
        release.set()
        p2 = self.start_serve(db=p.db, port=p.port)
        listing = "/v1/webhooks?destination_id=" + opd["id"]
        harness.wait_until(
            lambda: [w["status"] for w in self.ok(p2, "GET", listing)["data"]] ==
            ["succeeded", "succeeded"], 10.0, what="both alerts delivered after the restart")
        got = {r["headers"]["x-webhook-id"] for r in op.received()}
        self.assertEqual(len(got), 2)  # the cut one came again, same id: nothing lost or new
        self.assertGreaterEqual(op.count(), 3)


if __name__ == "__main__":
    harness.main()
