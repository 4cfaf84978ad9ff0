"""test_providers_receive.py — `hookd receive --provider` (SPEC §8).
HOOKD_BACKENDS: sqlite postgres

The receiver accepts what each provider's own library signs — standardwebhooks 1.1.1,
@octokit/webhooks-methods, stripe's webhooks.generateTestHeaderString, all from npm — with
the same durable dedup, the same handler environment and the same --forward headers whatever
the provider; and refuses each provider's bad-signature, expired, replayed and malformed
requests with the statuses and codes of SPEC §4.
"""
import base64
import calendar
import json
import os
import time
import uuid

import harness
import node_support

STD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-0123").decode()
GH_SECRET = "github-secret-0123"
STRIPE_SECRET = "whsec_stripe_test_0123456789"


def iso(unix_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_seconds))


class ProvidersReceive(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        node_support.setup()

    def start(self, provider, secret, forward=None):
        self.port, self.admin = harness.free_port(), harness.free_port()
        self.db = self.database()
        self.handled = os.path.join(self.tmp, "handled")
        args = ["receive", "--provider", provider, "--secret", secret,
                "--listen", "127.0.0.1:%d" % self.port,
                "--admin-listen", "127.0.0.1:%d" % self.admin, "--db", self.db.url]
        if forward:
            args += ["--forward", forward]
        else:
            args += ["--exec", 'printf "%%s|%%s|%%s\\n" "$WEBHOOK_ID" "$WEBHOOK_EVENT" '
                     '"$WEBHOOK_TIMESTAMP" >> %s' % self.handled]
        p = self.hookd(args, wait_port=self.port)
        p.wait_listening(self.admin)
        return p

    def post(self, body, headers):
        status, _, data = harness.request("POST", self.port, "/", body, headers)
        return status, json.loads(data) if data else None

    def accepted(self, body, headers, want="accepted"):
        status, data = self.post(body, headers)
        self.assertEqual((status, data), (200, {"status": want}))

    def refused(self, body, headers, status, code):
        got, data = self.post(body, headers)
        self.assertEqual(got, status, data)
        self.assertEqual(data["error"]["code"], code, data)

    def handled_runs(self, count):
        def read():
            try:
                with open(self.handled) as f:
                    lines = [line.strip().split("|") for line in f if line.strip()]
            except FileNotFoundError:
                return None
            return lines if len(lines) >= count else None
        return harness.wait_until(read, what="%d handler runs" % count)

    def stored(self):
        return int(self.db.query("SELECT COUNT(*) FROM receive_webhooks")[0][0])

    # ---- Standard Webhooks ----

    def std(self, body, wid, ts, secret=STD_SECRET):
        sig = node_support.one("standard-sign", secret=secret, id=wid, timestamp=ts,
                               body=body)["signature"]
        return {"Content-Type": "application/json", "webhook-id": wid,
                "webhook-timestamp": str(ts), "webhook-signature": sig}

    def test_standard_webhooks(self):
        self.start("standard-webhooks", STD_SECRET)
        body = '{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"id":7}}'
        now = int(time.time())
        headers = self.std(body, "msg_2Lh9", now)
        self.accepted(body, headers)
        self.accepted(body, headers, "duplicate")  # replayed: answered, not handled again
        self.assertEqual(self.handled_runs(1), [["msg_2Lh9", "invoice.paid", iso(now)]])

        other = "whsec_" + base64.b64encode(b"another-key-entirely-000000000").decode()
        self.refused(body, self.std(body, "msg_bad", now, other), 401, "bad_signature")
        self.refused(body, self.std(body, "msg_old", now - 600), 401, "expired")
        self.refused(body, self.std(body, "msg_new", now + 600), 401, "future")
        h = dict(self.std(body, "msg_ts", now), **{"webhook-timestamp": iso(now)})
        self.refused(body, h, 400, "bad_timestamp")
        h = dict(self.std(body, "msg_sig", now), **{"webhook-signature": "v1,abc"})
        self.refused(body, h, 401, "bad_signature")
        h = self.std(body, "msg_none", now)
        del h["webhook-id"]
        self.refused(body, h, 400, "missing_header")
        self.refused("[1,2]", self.std("[1,2]", "msg_arr", now), 400, "not_envelope")
        # a body without "type" is accepted; its event is ""
        self.accepted("{}", self.std("{}", "msg_notype", now))
        self.assertEqual(self.handled_runs(2)[1], ["msg_notype", "", iso(now)])
        self.assertEqual(self.stored(), 2)

    # ---- GitHub ----

    def github(self, body, delivery, event="push", secret=GH_SECRET):
        sig = node_support.one("github-sign", secret=secret, body=body)["signature"]
        return {"Content-Type": "application/json", "X-GitHub-Delivery": delivery,
                "X-GitHub-Event": event, "X-Hub-Signature-256": sig}

    def test_github(self):
        self.start("github", GH_SECRET)
        body = '{"ref":"refs/heads/main","after":"abc"}'
        delivery = str(uuid.uuid4())
        headers = self.github(body, delivery)
        before = int(time.time())
        self.accepted(body, headers)
        # GitHub sends no timestamp, so there is no window: a replay, however late, is
        # stopped by the dedup on X-GitHub-Delivery
        self.accepted(body, headers, "duplicate")
        run = self.handled_runs(1)[0]
        self.assertEqual(run[:2], [delivery, "push"])
        received = calendar.timegm(time.strptime(run[2], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertLessEqual(abs(received - before), 10)  # the time of receipt

        self.refused(body, self.github(body, str(uuid.uuid4()), secret="other"), 401,
                     "bad_signature")
        h = dict(headers, **{"X-Hub-Signature-256": "sha1=" + "0" * 40})
        self.refused(body, h, 401, "bad_signature")
        h = self.github(body, str(uuid.uuid4()))
        del h["X-GitHub-Event"]
        self.refused(body, h, 400, "missing_header")
        h = self.github(body, "")
        self.refused(body, h, 400, "missing_header")
        form = "payload=%7B%7D"
        self.refused(form, self.github(form, str(uuid.uuid4())), 400, "not_envelope")
        self.assertEqual(self.stored(), 1)

    # ---- Stripe ----

    def stripe(self, body, ts, secret=STRIPE_SECRET):
        header = node_support.one("stripe-sign", secret=secret, body=body, timestamp=ts)["header"]
        return {"Content-Type": "application/json", "Stripe-Signature": header}

    def test_stripe(self):
        self.start("stripe", STRIPE_SECRET)
        body = '{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}'
        now = int(time.time())
        headers = self.stripe(body, now)
        self.accepted(body, headers)
        self.accepted(body, self.stripe(body, now + 1), "duplicate")  # replay, signed anew
        self.assertEqual(self.handled_runs(1),
                         [["evt_1NG8Du2eZvKYlo2CUI79vXWy", "charge.succeeded", iso(now)]])

        self.refused(body, self.stripe(body, now, "whsec_other"), 401, "bad_signature")
        self.refused(body, self.stripe(body, now - 600), 401, "expired")
        self.refused(body, self.stripe(body, now + 600), 401, "future")
        self.refused(body, {"Stripe-Signature": "v1=" + "0" * 64}, 400, "bad_timestamp")
        self.refused(body, {"Stripe-Signature": "t=%d" % now}, 401, "bad_signature")
        self.refused(body, {}, 400, "missing_header")
        no_id = '{"object":"event","type":"charge.succeeded"}'
        self.refused(no_id, self.stripe(no_id, now), 400, "not_envelope")
        self.assertEqual(self.stored(), 1)
        # what hookd accepted, stripe's own verifier accepts too
        check = node_support.one("stripe-verify", secret=STRIPE_SECRET, body=body,
                                 header=headers["Stripe-Signature"])
        self.assertEqual(check, {"ok": True, "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
                                 "type": "charge.succeeded"})

    # ---- the same handler side whatever the provider ----

    def test_forward_headers_are_the_same_for_every_provider(self):
        rec = self.recorder()
        self.start("stripe", STRIPE_SECRET, forward=rec.url)
        body = '{"id":"evt_forward","type":"customer.created"}'
        now = int(time.time())
        headers = self.stripe(body, now)
        self.accepted(body, headers)
        req = harness.wait_until(lambda: rec.received(), what="the forward")[0]
        h = req["headers"]
        self.assertEqual(req["body"], body.encode())
        self.assertEqual(h["x-webhook-id"], "evt_forward")
        self.assertEqual(h["x-webhook-event"], "customer.created")
        self.assertEqual(h["x-webhook-timestamp"], iso(now))
        self.assertEqual(h["x-webhook-signature"], headers["Stripe-Signature"])

    def test_bad_flags(self):
        code, _, err = self.run_hookd(["receive", "--provider", "svix", "--secret", "s",
                                       "--exec", "true"])
        self.assertEqual(code, 2)
        self.assertIn("is not a provider", err)
        code, _, err = self.run_hookd(["receive", "--provider", "standard-webhooks", "--secret",
                                       "whsec_not base64!", "--exec", "true"])
        self.assertEqual(code, 2)
        self.assertIn("--secret", err)


if __name__ == "__main__":
    harness.main()
