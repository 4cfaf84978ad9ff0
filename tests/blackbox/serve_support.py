"""serve_support.py — what the `hookd serve` black-box tests share: start the sender on a free
port with a fresh database and short delays, and call its API as an application would.
"""
import json
import sqlite3

import harness

TOKEN = "test-token-0123456789"
FAST = ["--retry-delays", "100ms,100ms,100ms,100ms", "--timeout", "2s"]


class ServeCase(harness.TestCase):
    """A TestCase with helpers for `hookd serve`."""

    def start_serve(self, extra=(), db=None, token=TOKEN, fast=True, allow_http=True,
                    allow_private=True, env=None, port=None):
        """Starts `hookd serve` and returns the Hookd with .port and .db set."""
        db = db or getattr(self, "db", None) or self.database()
        self.db = db
        if port:
            harness.wait_bindable(port)  # a restart at the same place, maybe after kill -9
        port = port or harness.free_port()
        args = ["serve", "--db", db.url, "--listen", "127.0.0.1:%d" % port]
        if allow_http:
            args.append("--allow-http")
        if allow_private:
            args.append("--allow-private-addresses")
        if fast:
            args += FAST
        if token:
            args += ["--api-token", token]
        args += list(extra)
        p = self.hookd(args, wait_port=port, env=env, name="serve")
        p.port = port
        p.db = db
        p.token = token
        return p

    def api(self, p, method, path, body=None, token=None, headers=None):
        """(status, parsed JSON or None) of one API call with the process's token."""
        return harness.json_request(method, p.port, path, body,
                                    token=token if token is not None else p.token,
                                    headers=headers)

    def ok(self, p, method, path, body=None, status=200, headers=None):
        """Like api, but asserts the status and returns the JSON."""
        got, data = self.api(p, method, path, body, headers=headers)
        self.assertEqual(got, status, "%s %s -> %s %s" % (method, path, got, data))
        return data

    def destination(self, p, url, events=("events.created",), activate=True, **fields):
        """Creates (and by default activates) a destination; returns it with its secret."""
        body = {"name": fields.pop("name", "test"), "url": url, "events": list(events)}
        body.update(fields)
        d = self.ok(p, "POST", "/v1/destinations", body, status=201)
        if activate:
            self.ok(p, "POST", "/v1/destinations/%s/activate" % d["id"])
        return d

    def event(self, p, event="events.created", data=None, headers=None):
        """Posts an event; asserts 202 and returns the answer."""
        if data is None:
            data = {"id": 1, "calendar_id": 2}
        return self.ok(p, "POST", "/v1/events", {"event": event, "data": data}, status=202,
                       headers=headers)

    def webhook(self, p, wid):
        return self.ok(p, "GET", "/v1/webhooks/%s" % wid)

    def wait_status(self, p, wid, status, timeout=10.0):
        """Waits until webhook wid has the status; returns the webhook."""
        def check():
            w = self.webhook(p, wid)
            return w if w["status"] == status else None
        return harness.wait_until(check, timeout, interval=0.05,
                                  what="webhook %s to be %s" % (wid, status))

    def db_write(self, sql):
        """Runs a write on the test's database with the backend's own client."""
        if self.db.backend == "postgres":
            self.db.query(sql)
            return
        con = sqlite3.connect(self.db.path, timeout=30)
        try:
            con.execute(sql)
            con.commit()
        finally:
            con.close()


def verify(test, req, secret, wid=None):
    """Asserts that a recorded request carries a valid MeetBit signature for secret."""
    h = req["headers"]
    if wid:
        test.assertEqual(h.get("x-webhook-id"), wid)
    expected = harness.sign(secret, h["x-webhook-id"], h["x-webhook-timestamp"], req["body"])
    test.assertEqual(h.get("x-webhook-signature"), expected)


def body_json(req):
    return json.loads(req["body"].decode())


def main():
    harness.main()
