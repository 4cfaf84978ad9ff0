"""test_providers_serve.py — `hookd serve` in the Standard Webhooks format (SPEC §8).
HOOKD_BACKENDS: sqlite postgres

It sends Standard Webhooks that the standard's own library, standardwebhooks 1.1.1 from npm,
verifies; secret rotation with a grace loses no delivery for a receiver holding only the old
secret nor for one holding only the new; `hookd sign/send --format standard-webhooks` agree
with the library too.
"""
import base64
import datetime
import os
import time

import harness
import node_support
import serve_support
from serve_support import ServeCase


def std_headers(req):
    h = req["headers"]
    return {k: h[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature") if k in h}


class ProvidersServe(ServeCase):
    @classmethod
    def setUpClass(cls):
        node_support.setup()

    def library_verifies(self, req, secrets):
        """For each secret, whether standardwebhooks accepts the recorded request."""
        ops = [{"op": "standard-verify", "secret": s, "headers": std_headers(req),
                "body": req["body"].decode()} for s in secrets]
        return [r["ok"] or r["error"] for r in node_support.run(ops)]

    def start_receive(self, secret, name):
        """`hookd receive --provider standard-webhooks` holding one secret; returns its URL."""
        port, admin = harness.free_port(), harness.free_port()
        db = self.database(name)
        args = ["receive", "--provider", "standard-webhooks", "--secret", secret,
                "--listen", "127.0.0.1:%d" % port, "--admin-listen", "127.0.0.1:%d" % admin,
                "--db", db.url, "--exec", "true"]
        p = self.hookd(args, wait_port=port, name=name)
        p.wait_listening(admin)
        return "http://127.0.0.1:%d/" % port

    def test_standard_delivery_verified_by_library(self):
        rec = self.recorder()
        p = self.start_serve()
        d = self.destination(p, rec.url, format="standard-webhooks")
        self.assertEqual(d["format"], "standard-webhooks")
        self.assertTrue(d["secret"].startswith("whsec_"))
        self.assertEqual(len(base64.b64decode(d["secret"][6:], validate=True)), 32)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations/" + d["id"])["format"],
                         "standard-webhooks")
        ev = self.event(p)
        wid = ev["webhooks"][0]["id"]
        self.wait_status(p, wid, "succeeded")
        req = rec.received()[0]
        h = req["headers"]
        self.assertEqual(h["webhook-id"], wid)
        self.assertLessEqual(abs(int(h["webhook-timestamp"]) - time.time()), 30)
        self.assertNotIn("x-webhook-signature", h)
        self.assertEqual(self.library_verifies(req, [d["secret"]]), [True])
        # the library refuses what another key signed: the check above can fail
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.assertNotEqual(self.library_verifies(req, [other]), [True])

    def test_format_defaults_to_meetbit_and_can_change(self):
        rec = self.recorder()
        p = self.start_serve()
        d = self.destination(p, rec.url)
        self.assertEqual(d["format"], "meetbit")
        status, err = self.api(p, "PATCH", "/v1/destinations/" + d["id"], {"format": "svix"})
        self.assertEqual(status, 422, err)
        self.assertEqual(err["error"]["code"], "invalid_format")
        patched = self.ok(p, "PATCH", "/v1/destinations/" + d["id"],
                          {"format": "standard-webhooks"})
        self.assertEqual(patched["format"], "standard-webhooks")
        ev = self.event(p)
        self.wait_status(p, ev["webhooks"][0]["id"], "succeeded")
        # a meetbit secret kept across the change is valid base64: the library accepts it
        self.assertEqual(self.library_verifies(rec.received()[0], [d["secret"]]), [True])

    def test_rotation_with_grace_keeps_old_and_new_receivers(self):
        p = self.start_serve()
        d = self.destination(p, "http://127.0.0.1:9/", format="standard-webhooks")
        old = d["secret"]
        rotated = self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % d["id"],
                          {"grace": "1h"})
        new = rotated["secret"]
        self.assertNotEqual(new, old)
        self.assertEqual([e["secret"] for e in rotated["previous"]], [old])
        expires = datetime.datetime.fromisoformat(
            rotated["previous"][0]["expires_at"].replace("Z", "+00:00")).timestamp()
        self.assertAlmostEqual(expires, time.time() + 3600, delta=60)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations/%s/secret" % d["id"]), rotated)

        rec = self.recorder()
        self.ok(p, "PATCH", "/v1/destinations/" + d["id"], {"url": rec.url})
        ev = self.event(p)
        self.wait_status(p, ev["webhooks"][0]["id"], "succeeded")
        req = rec.received()[0]
        self.assertEqual(len(req["headers"]["webhook-signature"].split(" ")), 2)
        self.assertEqual(self.library_verifies(req, [old, new]), [True, True])

        # real receivers, one holding only the old secret, one only the new: none loses one
        for name, secret in (("old", old), ("new", new)):
            url = self.start_receive(secret, "receive-" + name)
            self.ok(p, "PATCH", "/v1/destinations/" + d["id"], {"url": url})
            ev = self.event(p)
            self.wait_status(p, ev["webhooks"][0]["id"], "succeeded")

    def test_rotation_without_grace_drops_the_old_secret(self):
        p = self.start_serve()
        d = self.destination(p, "http://127.0.0.1:9/", format="standard-webhooks")
        self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % d["id"], {"grace": "1h"})
        rotated = self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % d["id"])
        self.assertEqual(rotated["previous"], [])
        url = self.start_receive(d["secret"], "receive-old")
        self.ok(p, "PATCH", "/v1/destinations/" + d["id"], {"url": url})
        ev = self.event(p)
        wid = ev["webhooks"][0]["id"]
        w = harness.wait_until(lambda: (lambda w: w if w["attempts"] else None)(
            self.webhook(p, wid)), what="an attempt")
        self.assertEqual(w["attempts"][0]["status_code"], 401)

    def test_meetbit_rotation_with_grace_signs_with_the_new_secret(self):
        rec = self.recorder()
        p = self.start_serve()
        d = self.destination(p, rec.url)
        rotated = self.ok(p, "POST", "/v1/destinations/%s/secret/rotate" % d["id"],
                          {"grace": "30m"})
        self.assertEqual([e["secret"] for e in rotated["previous"]], [d["secret"]])
        ev = self.event(p)
        self.wait_status(p, ev["webhooks"][0]["id"], "succeeded")
        serve_support.verify(self, rec.received()[0], rotated["secret"])

    def test_rotation_grace_is_checked(self):
        p = self.start_serve()
        d = self.destination(p, "http://127.0.0.1:9/", activate=False)
        path = "/v1/destinations/%s/secret/rotate" % d["id"]
        for body in ({"grace": "8d"}, {"grace": "soon"}, {"grace": 3600}):
            status, err = self.api(p, "POST", path, body)
            self.assertEqual(status, 422, (body, err))
            self.assertEqual(err["error"]["code"], "invalid_grace")
        status, _, _ = harness.request("POST", p.port, path, "{", {
            "Authorization": "Bearer " + p.token})
        self.assertEqual(status, 400)
        self.assertEqual(self.ok(p, "GET", "/v1/destinations/%s/secret" % d["id"])["secret"],
                         d["secret"])
        status, _ = self.api(p, "POST", "/v1/destinations/%s/secret/rotate" % "nope",
                             {"grace": "1h"})
        self.assertEqual(status, 404)

    def test_tools_sign_and_send_standard(self):
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        body = '{"event":"events.created","data":{"id":1}}'
        now = int(time.time())
        code, out, err = self.run_hookd(["sign", "--format", "standard-webhooks", "--secret",
                                         secret, "--id", "msg_1", "--timestamp", str(now)],
                                        stdin=body)
        self.assertEqual(code, 0, err)
        headers = dict(line.split(": ", 1) for line in out.strip().splitlines())
        lib = node_support.one("standard-sign", secret=secret, id="msg_1", timestamp=now,
                               body=body)
        self.assertEqual(headers["webhook-signature"], lib["signature"])
        code, out, err = self.run_hookd(["verify", "--format", "standard-webhooks", "--secret",
                                         secret, "--id", "msg_1", "--timestamp", str(now),
                                         "--signature", lib["signature"]], stdin=body)
        self.assertEqual((code, out.strip()), (0, "ok"), err)

        rec = self.recorder()
        code, out, err = self.run_hookd(["send", rec.url, "--format", "standard-webhooks",
                                         "--secret", secret, "--event", "events.created",
                                         "--data", '{"id":1}'])
        self.assertEqual(code, 0, err)
        self.assertEqual(self.library_verifies(rec.received()[0], [secret]), [True])


if __name__ == "__main__":
    harness.main()
