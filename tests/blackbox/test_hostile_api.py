"""test_hostile_api.py — the APIs' smaller holes of issue 11, closed.
HOOKD_BACKENDS: sqlite postgres

Text that is not UTF-8
(PostgreSQL refused it as a store failure), recover's overflowing `since`, header names that
pass for the protocol's, control bytes, credentials in URLs, IANA special-purpose and the
host's own addresses, the handler's environment, and the receiver's admin API (Host, Origin,
token, refusal to listen openly).
"""
import ipaddress
import json
import os
import re
import socket
import urllib.parse

import harness
import serve_support

SECRET = "whsec_hostile_0123456789"
BODY = '{"event":"events.created","data":{"id":1}}'


def own_address():
    """A non-loopback address of this host, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


class ServeHoles(serve_support.ServeCase):
    def test_text_that_is_not_utf8_is_refused_before_the_store(self):
        p = self.start_serve()
        auth = "Authorization: Bearer %s\r\n" % p.token
        cases = (
            (b"GET /v1/webhooks/%FF%FE HTTP/1.1\r\n", 404, "not_found"),
            (b"GET /v1/destinations/%C0%AF HTTP/1.1\r\n", 404, "not_found"),
            (b"GET /v1/webhooks?status=%FF HTTP/1.1\r\n", 400, "invalid_parameter"),
            (b"GET /v1/webhooks?after=%ED%A0%80 HTTP/1.1\r\n", 400, "invalid_parameter"),
        )
        for line, status, code in cases:
            answer = harness.raw_exchange(p.port, line + b"Host: x\r\nConnection: close\r\n" + auth.encode() +
                         b"\r\n")
            self.assertIn(b"HTTP/1.1 %d" % status, answer, line)
            self.assertIn(code.encode(), answer, line)
        body = json.dumps({"type": "events.created", "data": {}}).encode()
        answer = harness.raw_exchange(p.port, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                     auth.encode() + b"Idempotency-Key: \xff\xfe\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assertIn(b"HTTP/1.1 400", answer)
        self.assertIn(b"invalid_idempotency_key", answer)
        self.assertNotIn("ERROR", p.output())
        self.assertNotIn("error", p.output().lower().replace("invalid", ""))

    def test_recover_since_that_would_overflow_is_refused(self):
        p = self.start_serve()
        d = self.destination(p, "http://127.0.0.1:9/")
        path = "/v1/destinations/%s/recover" % d["id"]
        for since in (9223372036854776, 9223372036854775807):
            status, data = self.api(p, "POST", path, {"since": since})
            self.assertEqual(status, 422, data)
            self.assertEqual(data["error"]["code"], "invalid_since")
        status, data = self.api(p, "POST", path, {"since": 0, "until": 9223372036854776})
        self.assertEqual(status, 422, data)
        self.assertEqual(data["error"]["code"], "invalid_until")

    def test_header_names_and_values_that_pass_for_others_are_refused(self):
        p = self.start_serve()
        for headers in ({"X_Webhook_Signature": "forged"}, {"X-Webhook_Id": "x"},
                        {"Webhook_Signature": "v1,x"}, {"X-Tenant": "a\x1bb"},
                        {"X-Tenant": "a\x7fb"}):
            status, data = self.api(p, "POST", "/v1/destinations",
                                    {"name": "d", "url": "http://127.0.0.1:9/",
                                     "events": ["events.created"], "headers": headers})
            self.assertEqual(status, 422, "%r -> %s %s" % (headers, status, data))
            self.assertEqual(data["error"]["code"], "invalid_headers")
        self.destination(p, "http://127.0.0.1:9/", headers={"X-Tenant": "a\tb"})

    def test_credentials_in_a_destination_url_are_refused(self):
        p = self.start_serve()
        for url in ("http://user:pass@127.0.0.1:9/", "http://token@127.0.0.1:9/x"):
            status, data = self.api(p, "POST", "/v1/destinations",
                                    {"name": "d", "url": url, "events": ["events.created"]})
            self.assertEqual(status, 422, data)
            self.assertEqual(data["error"]["code"], "invalid_url")
        d = self.destination(p, "http://127.0.0.1:9/", activate=False)
        status, data = self.api(p, "PATCH", "/v1/destinations/%s" % d["id"],
                                {"url": "http://a:b@127.0.0.1:9/"})
        self.assertEqual(status, 422, data)
        _, listed = self.api(p, "GET", "/v1/destinations")
        self.assertNotIn("a:b@", json.dumps(listed))

    def test_special_purpose_and_own_addresses_are_refused_at_connect_time(self):
        p = self.start_serve(["--max-attempts", "1"], allow_private=False)
        targets = {"198.18.0.1": "benchmarking", "192.0.2.10": "documentation",
                   "203.0.113.5": "documentation", "192.0.0.8": "special-purpose",
                   "[2001:db8::1]": "documentation", "[::ffff:0:7f00:1]": "loopback"}
        mine = own_address()
        if mine and ipaddress.ip_address(mine).is_global:
            # (where the host's only address is itself special-purpose, its range says so)
            targets[mine] = "an address of this host"
        for host, why in targets.items():
            d = self.destination(p, "http://%s:9/" % host, events=("events.created",),
                                 name=host)
            wid = self.event(p)["webhooks"]
            w = [x for x in wid if x["destination_id"] == d["id"]][0]
            got = self.wait_status(p, w["id"], "failed")
            err = got["attempts"][0]["error"]
            self.assertIn("refused", err, host)
            self.assertIn(why, err, host)
            self.ok(p, "POST", "/v1/destinations/%s/deactivate" % d["id"])


class ReceiveHoles(harness.TestCase):
    def start(self, extra=(), env=None, token=None):
        self.port = harness.free_port()
        self.admin = harness.free_port()
        self.db = self.database()
        self.envfile = os.path.join(self.tmp, "env")
        args = ["receive", "--listen", "127.0.0.1:%d" % self.port, "--admin-listen",
                "127.0.0.1:%d" % self.admin, "--db", self.db.url,
                "--exec", "env > %s" % self.envfile] + list(extra)
        full_env = {"HOOKD_SECRET": SECRET}
        if token:
            full_env["HOOKD_ADMIN_TOKEN"] = token
        full_env.update(env or {})
        p = self.hookd(args, env=full_env, wait_port=self.port)
        p.wait_listening(self.admin)
        return p

    def test_handler_does_not_inherit_hookds_secrets(self):
        self.start(env={"HOOKD_API_TOKEN": "sender-token-123456"}, token="admin-token-123456")
        status, _, _ = harness.request("POST", self.port, "/", BODY,
                                       harness.signed_headers(SECRET, BODY))
        self.assertEqual(status, 200)
        def ran():
            if not os.path.exists(self.envfile):
                return False
            with open(self.envfile) as f:
                return "WEBHOOK_ID=" in f.read()
        harness.wait_until(ran, what="the handler ran")
        with open(self.envfile) as f:
            env = f.read()
        self.assertNotIn(SECRET, env)
        self.assertNotIn("HOOKD_SECRET", env)
        self.assertNotIn("sender-token-123456", env)
        self.assertNotIn("admin-token-123456", env)

    def admin_get(self, path, headers):
        status, _, data = harness.request("GET", self.admin, path, None, headers)
        return status, data

    def test_admin_api_refuses_other_hosts_and_sites(self):
        p = self.start(env={"HOOKD_ADMIN_TOKEN": ""})  # the token hookd generates
        token = harness.wait_until(lambda: re.search(r"admin token: (\S+)", p.output()),
                                   what="the admin token line").group(1)
        auth = {"Authorization": "Bearer " + token}
        self.assertEqual(self.admin_get("/webhooks", auth)[0], 200)
        self.assertEqual(self.admin_get("/webhooks",
                                        dict(auth, Host="localhost:%d" % self.admin))[0], 200)
        for path in ("/webhooks", "/admin/sign-in"):
            status, data = self.admin_get(path, dict(auth, Host="evil.example:%d" % self.admin))
            self.assertEqual(status, 403)
            self.assertEqual(json.loads(data)["error"]["code"], "forbidden_host")
        status, data = self.admin_get("/webhooks", dict(auth, Origin="https://evil.example"))
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(data)["error"]["code"], "forbidden_origin")
        status, _, _ = harness.request("POST", self.admin, "/webhooks/x/retry", "",
                                       dict(auth, **{"Sec-Fetch-Site": "cross-site"}))
        self.assertEqual(status, 403)
        self.assertEqual(self.admin_get("/webhooks",
                                        dict(auth, Origin="http://127.0.0.1:%d" % self.admin))[0],
                         200)

    def test_given_admin_token_lets_the_operator_name_the_host(self):
        self.start(token="admin-token-123456")  # (behind a proxy that passes its own Host)
        ok = {"Authorization": "Bearer admin-token-123456", "Host": "hooks.example.com"}
        self.assertEqual(self.admin_get("/webhooks", ok)[0], 200)
        status, data = self.admin_get("/webhooks", dict(ok, Origin="https://evil.example"))
        self.assertEqual(json.loads(data)["error"]["code"], "forbidden_origin")
        same_site = dict(ok, Origin="https://hooks.example.com")
        self.assertEqual(self.admin_get("/webhooks", same_site)[0], 200)

    def test_admin_token_is_required_when_set(self):
        self.start(token="admin-token-123456")
        none = {"Authorization": None}  # (the harness would send the token)
        status, data = self.admin_get("/webhooks", none)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(data)["error"]["code"], "unauthorized")
        self.assertEqual(self.admin_get("/metrics", none)[0], 401)
        self.assertEqual(self.admin_get("/healthz", none)[0], 200)
        ok = {"Authorization": "Bearer admin-token-123456"}
        self.assertEqual(self.admin_get("/webhooks", ok)[0], 200)
        self.assertEqual(self.admin_get("/webhooks/%FF", ok)[0], 404)

    def test_open_admin_listen_needs_a_token(self):
        code, _, err = self.run_hookd(["receive", "--admin-listen", "0.0.0.0:%d" %
                                       harness.free_port(), "--exec", "true", "--db",
                                       "sqlite:" + os.path.join(self.tmp, "x.db")],
                                      env={"HOOKD_SECRET": SECRET})
        self.assertEqual(code, 2, err)
        self.assertIn("--admin-token", err)


if __name__ == "__main__":
    harness.main()
