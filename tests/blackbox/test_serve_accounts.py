"""test_serve_accounts.py — accounts and access keys of `hookd serve` (SPEC §6): every route
with and without the permission it declares, isolation between accounts, revocation (on a
second node too), keys trying to grant more than they hold, 1,000 accounts x 10 destinations,
and the README's walk-through of MeetBit's setup with a key limited to it.
HOOKD_BACKENDS: sqlite postgres
"""
import json
import time

import harness
from serve_support import ServeCase

ALL = ["destinations.create", "destinations.read", "destinations.update",
       "destinations.activate", "destinations.delete", "destinations.secret", "events.create",
       "events.read", "webhooks.read", "webhooks.retry", "access_keys.manage", "accounts.manage"]
EVENT = {"event": "events.created", "data": {"id": 1, "calendar_id": 2}}


class AccountsTest(ServeCase):

    def as_key(self, p, key, method, path, body=None, account=None):
        """(status, JSON) of a call made with access key `key` (and X-Account-Id)."""
        headers = {"X-Account-Id": account} if account else None
        return self.api(p, method, path, body, token=key, headers=headers)

    def account(self, p, aid):
        return self.ok(p, "POST", "/v1/accounts", {"id": aid, "name": aid.title()}, status=201)

    def key(self, p, permissions, account=None, name="k", via=None):
        """Creates a key (with the bootstrap token unless via = (key, account)); its secret."""
        body = {"name": name, "account": account, "permissions": permissions}
        if via:
            status, k = self.as_key(p, via[0], "POST", "/v1/access-keys", body, via[1])
            self.assertEqual(status, 201, k)
        else:
            k = self.ok(p, "POST", "/v1/access-keys", body, status=201)
        self.assertTrue(k["key"].startswith("hk_"))
        return k

    def assert_forbidden(self, got, message):
        status, body = got
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "forbidden")
        self.assertEqual(body["error"]["message"], message)

    def acme_objects(self, p, rec):
        """An account acme with a destination (active, to rec), an event and its webhook."""
        self.account(p, "acme")
        h = {"X-Account-Id": "acme"}
        made = self.ok(p, "POST", "/v1/destinations",
                       {"name": "a", "url": rec.url, "events": ["events.created"]}, 201, h)
        self.ok(p, "POST", "/v1/destinations/%s/activate" % made["id"], headers=h)
        ev = self.ok(p, "POST", "/v1/events", EVENT, 202, h)
        return made["id"], ev["id"], ev["webhooks"][0]["id"]

    def test_permission_matrix(self):
        rec = self.recorder()
        p = self.start_serve()
        d, e, w = self.acme_objects(p, rec)
        dest = {"name": "n", "url": rec.url, "events": ["events.created"]}
        # what a key with access_keys.manage alone may revoke: one holding no more
        spare = self.key(p, ["access_keys.manage"], "acme")["id"]
        # (method, path, body, permission, the status with it)
        routes = [
            ("GET", "/v1/destinations", None, "destinations.read", {200}),
            ("POST", "/v1/destinations", dest, "destinations.create", {201}),
            ("GET", "/v1/destinations/" + d, None, "destinations.read", {200}),
            ("PATCH", "/v1/destinations/" + d, {"name": "m"}, "destinations.update", {200}),
            ("POST", "/v1/destinations/%s/deactivate" % d, None, "destinations.activate", {200}),
            ("POST", "/v1/destinations/%s/activate" % d, None, "destinations.activate", {200}),
            ("GET", "/v1/destinations/%s/secret" % d, None, "destinations.secret", {200}),
            ("POST", "/v1/destinations/%s/secret/rotate" % d, None, "destinations.secret", {200}),
            ("POST", "/v1/destinations/%s/recover" % d, {"since": 0}, "webhooks.retry", {202}),
            ("POST", "/v1/events", EVENT, "events.create", {202}),
            ("GET", "/v1/events/" + e, None, "events.read", {200}),
            ("GET", "/v1/webhooks", None, "webhooks.read", {200}),
            ("GET", "/v1/webhooks/" + w, None, "webhooks.read", {200}),
            ("POST", "/v1/webhooks/%s/retry" % w, None, "webhooks.retry", {202, 409}),
            ("GET", "/v1/accounts", None, "accounts.manage", {200}),
            ("POST", "/v1/accounts", {"id": "newco", "name": "N"}, "accounts.manage", {201}),
            ("GET", "/v1/access-keys", None, "access_keys.manage", {200}),
            ("POST", "/v1/access-keys", {"name": "x", "account": "acme",
                                         "permissions": ["access_keys.manage"]},
             "access_keys.manage", {201}),
            ("DELETE", "/v1/access-keys/" + spare, None, "access_keys.manage", {204}),
            ("DELETE", "/v1/destinations/" + d, None, "destinations.delete", {204}),
        ]
        # the document names the same permission for each operation (x-permission)
        _, _, raw = harness.request("GET", p.port, "/openapi.json")
        paths = json.loads(raw)["paths"]
        for method, path, _, perm, _ in routes:
            template = path
            for real in (d, e, w, spare):
                template = template.replace(real, "{id}")
            self.assertEqual(paths[template][method.lower()]["x-permission"], perm, template)
        for method, path, body, perm, ok in routes:
            without = self.key(p, [x for x in ALL if x != perm])["key"]
            with_it = self.key(p, [perm])["key"]
            self.assert_forbidden(self.as_key(p, without, method, path, body, "acme"),
                                  "missing permission " + perm)
            status, got = self.as_key(p, with_it, method, path, body, "acme")
            self.assertIn(status, ok, "%s %s with %s: %s %s" % (method, path, perm, status, got))
        # the catalog needs no permission, only a valid key
        only = self.key(p, ["events.read"])["key"]
        self.assertEqual(self.as_key(p, only, "GET", "/v1/event-types")[0], 200)

    def test_isolation(self):
        rec_a, rec_b = self.recorder(), self.recorder()
        p = self.start_serve()
        self.account(p, "a")
        self.account(p, "b")
        ka = self.key(p, ["*"], "a")["key"]
        kb = self.key(p, ["*"], "b", name="kb")
        ha = {"X-Account-Id": "a"}
        da = self.ok(p, "POST", "/v1/destinations",
                     {"name": "a", "url": rec_a.url, "events": ["events.created"]}, 201, ha)
        self.ok(p, "POST", "/v1/destinations/%s/activate" % da["id"], headers=ha)
        status, db_ = self.as_key(p, kb["key"], "POST", "/v1/destinations",
                                  {"name": "b", "url": rec_b.url, "events": ["events.created"]})
        self.assertEqual(status, 201)
        self.assertEqual(self.as_key(p, kb["key"], "POST",
                                     "/v1/destinations/%s/activate" % db_["id"])[0], 200)
        status, ev = self.as_key(p, ka, "POST", "/v1/events", EVENT,
                                 account="b")  # a bound key ignores X-Account-Id
        self.assertEqual(status, 202)
        self.assertEqual([x["destination_id"] for x in ev["webhooks"]], [da["id"]])
        wid = ev["webhooks"][0]["id"]
        harness.wait_until(lambda: rec_a.count() == 1, what="A's destination called")
        time.sleep(0.5)
        self.assertEqual(rec_b.count(), 0, "A's event reached B's destination")
        # every id of A is 404 through B's key, whatever X-Account-Id says
        for method, path, body in [
                ("GET", "/v1/destinations/" + da["id"], None),
                ("PATCH", "/v1/destinations/" + da["id"], {"name": "x"}),
                ("POST", "/v1/destinations/%s/deactivate" % da["id"], None),
                ("GET", "/v1/destinations/%s/secret" % da["id"], None),
                ("POST", "/v1/destinations/%s/secret/rotate" % da["id"], None),
                ("POST", "/v1/destinations/%s/recover" % da["id"], {"since": 0}),
                ("DELETE", "/v1/destinations/" + da["id"], None),
                ("GET", "/v1/events/" + ev["id"], None),
                ("GET", "/v1/webhooks/" + wid, None),
                ("POST", "/v1/webhooks/%s/retry" % wid, None)]:
            status, body_ = self.as_key(p, kb["key"], method, path, body, account="a")
            self.assertEqual(status, 404, "%s %s: %s" % (method, path, body_))
        _, listed = self.as_key(p, kb["key"], "GET", "/v1/destinations")
        self.assertEqual([x["id"] for x in listed["data"]], [db_["id"]])
        _, hooks = self.as_key(p, kb["key"], "GET", "/v1/webhooks?event_id=" + ev["id"])
        self.assertEqual(hooks["data"], [])
        # B sees only its keys and accounts; A's key id is 404 to it
        _, keys = self.as_key(p, kb["key"], "GET", "/v1/access-keys")
        self.assertEqual({k["account"] for k in keys["data"]}, {"b"})
        self.assertNotIn("key", keys["data"][0])
        _, accounts = self.as_key(p, kb["key"], "GET", "/v1/accounts")
        self.assertEqual([x["id"] for x in accounts["data"]], ["b"])
        all_keys = self.ok(p, "GET", "/v1/access-keys")["data"]
        a_key = [k for k in all_keys if k["account"] == "a"][0]
        self.assertEqual(self.as_key(p, kb["key"], "DELETE", "/v1/access-keys/" + a_key["id"])[0],
                         404)
        # the bootstrap key reaches A through X-Account-Id; an unknown account is 404
        self.ok(p, "GET", "/v1/destinations/" + da["id"], headers=ha)
        self.assertEqual(self.api(p, "GET", "/v1/destinations",
                                  headers={"X-Account-Id": "nosuch"})[0], 404)
        self.assertEqual(self.api(p, "GET", "/v1/destinations/" + da["id"])[0], 404)  # default
        # the same Idempotency-Key in two accounts makes two events
        hk = {"Idempotency-Key": "same"}
        first = self.ok(p, "POST", "/v1/events", EVENT, 202, dict(hk, **{"X-Account-Id": "a"}))
        second = self.ok(p, "POST", "/v1/events", EVENT, 202, dict(hk, **{"X-Account-Id": "b"}))
        self.assertNotEqual(first["id"], second["id"])
        again = self.ok(p, "POST", "/v1/events", EVENT, 202, dict(hk, **{"X-Account-Id": "a"}))
        self.assertEqual(again["id"], first["id"])

    def test_revocation(self):
        p = self.start_serve()
        k = self.key(p, ["destinations.read"])
        nodes = [p]
        if self.db.backend == "postgres":
            nodes.append(self.start_serve(db=self.db))
        for n in nodes:
            self.assertEqual(self.as_key(n, k["key"], "GET", "/v1/destinations")[0], 200)
        self.ok(p, "DELETE", "/v1/access-keys/" + k["id"], status=204)
        for n in nodes:  # from the very next request, on every node
            status, body = self.as_key(n, k["key"], "GET", "/v1/destinations")
            self.assertEqual(status, 401, body)
        self.assertEqual(self.api(p, "DELETE", "/v1/access-keys/" + k["id"])[0], 404)
        self.assertNotIn(k["id"], [x["id"] for x in self.ok(p, "GET", "/v1/access-keys")["data"]])
        # the bootstrap token is itself a key, "*" on every account
        boot = [x for x in self.ok(p, "GET", "/v1/access-keys")["data"] if x["id"] == "bootstrap"]
        self.assertEqual(boot[0]["permissions"], ["*"])
        self.assertIsNone(boot[0]["account"])
        rows = self.db.query("SELECT digest FROM serve_access_keys")
        self.assertTrue(all(k["key"] not in r[0] for r in rows))

    def test_escalation(self):
        p = self.start_serve()
        self.account(p, "acme")
        self.account(p, "other")
        mgr = self.key(p, ["destinations.read", "access_keys.manage"], "acme")["key"]
        for body, message in [
                ({"permissions": ["destinations.create"], "account": "acme"},
                 "cannot grant permission destinations.create: this key does not hold it"),
                ({"permissions": ["*"], "account": "acme"},
                 "cannot grant permission *: this key does not hold it"),
                ({"permissions": ["destinations.read"], "account": None},
                 "this key cannot grant access to every account"),
                ({"permissions": ["destinations.read"], "account": "other"},
                 "this key cannot grant access to another account")]:
            self.assert_forbidden(self.as_key(p, mgr, "POST", "/v1/access-keys",
                                              dict(body, name="x")), message)
        self.assert_forbidden(self.as_key(p, mgr, "POST", "/v1/accounts", {"id": "x", "name": "x"}),
                              "missing permission accounts.manage")
        # what it holds, it may grant; absent account: its own
        status, sub = self.as_key(p, mgr, "POST", "/v1/access-keys",
                                  {"name": "sub", "permissions": ["destinations.read"]})
        self.assertEqual(status, 201, sub)
        self.assertEqual(sub["account"], "acme")
        # twelve names are not "*": such a key cannot create a "*" key
        twelve = self.key(p, ALL)["key"]
        self.assert_forbidden(
            self.as_key(p, twelve, "POST", "/v1/access-keys",
                        {"name": "y", "account": None, "permissions": ["*"]}),
            "cannot grant permission *: this key does not hold it")
        # nor revoke a key holding more than itself: one with a permission it lacks (the key
        # stays live); keys of every account, the bootstrap "*" key among them, it cannot see
        revoke = "this key cannot revoke a key holding more than itself"
        wide = self.key(p, ["destinations.read"])["id"]
        more = self.key(p, ["destinations.read", "events.create"], "acme")
        self.assert_forbidden(self.as_key(p, mgr, "DELETE", "/v1/access-keys/" + more["id"]),
                              revoke)
        for kid in ("bootstrap", wide):
            self.assertEqual(self.as_key(p, mgr, "DELETE", "/v1/access-keys/" + kid)[0], 404)
        self.assertEqual(self.as_key(p, more["key"], "GET", "/v1/destinations")[0], 200)
        self.assert_forbidden(self.as_key(p, twelve, "DELETE", "/v1/access-keys/bootstrap"),
                              revoke)
        self.assertEqual(self.as_key(p, mgr, "DELETE", "/v1/access-keys/" + sub["id"])[0], 204)
        self.assertEqual(self.as_key(p, sub["key"], "GET", "/v1/destinations")[0], 401)
        # a bound key with accounts.manage still cannot create accounts
        bound = self.key(p, ["accounts.manage"], "acme")["key"]
        self.assert_forbidden(self.as_key(p, bound, "POST", "/v1/accounts",
                                          {"id": "x", "name": "x"}),
                              "a key bound to one account cannot create accounts")
        for bad in ({"name": "z", "permissions": ["destinations.fly"]},
                    {"name": "z", "permissions": []},
                    {"name": "z", "account": "Bad Id", "permissions": ["*"]}):
            self.assertEqual(self.api(p, "POST", "/v1/access-keys", bad)[0], 422, bad)
        self.assertEqual(self.api(p, "POST", "/v1/access-keys",
                                  {"name": "z", "account": "nosuch",
                                   "permissions": ["*"]})[0], 404)
        self.assertEqual(self.api(p, "POST", "/v1/accounts", {"id": "acme", "name": "x"})[0], 409)
        self.assertEqual(self.api(p, "POST", "/v1/accounts", {"id": "UP", "name": "x"})[0], 422)

    def test_thousand_accounts(self):
        rec = self.recorder()
        p = self.start_serve()
        # 1,000 accounts x 10 destinations (10,000 active subscribers of the same type),
        # written in a few statements; account a0500's ten call the recorder
        gen = ("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) ")
        self.db_write(gen % 999 + "INSERT INTO serve_accounts (id, name, created_at) "
                      "SELECT 'a' || (1000 + i), 'A', 1 FROM n")
        self.db_write(gen % 9999 + "INSERT INTO serve_destinations (id, name, url, events, "
                      "headers, secret, active, created_at, updated_at, account_id) "
                      "SELECT 'd' || (10000 + i), 'd', '%s', '[\"events.created\"]', '{}', "
                      "'whsec_0123456789abcdef0123456789abcdef0123456789abcdef', 1, 1, 1, "
                      "'a' || (1000 + i / 10) FROM n" % rec.url)
        self.db_write("INSERT INTO serve_subscriptions (destination_id, event_type, account_id) "
                      "SELECT id, 'events.created', account_id FROM serve_destinations")
        self.assertEqual(len(self.ok(p, "GET", "/v1/accounts")["data"]), 1001)
        h = {"X-Account-Id": "a1500"}
        start = time.monotonic()
        ev = self.ok(p, "POST", "/v1/events", EVENT, 202, h)
        took = time.monotonic() - start
        want = {"d%d" % (10000 + 5000 + i) for i in range(10)}
        self.assertEqual({x["destination_id"] for x in ev["webhooks"]}, want)
        harness.wait_until(lambda: rec.count() == 10, what="the ten destinations called")
        self.assertEqual(self.db.query("SELECT COUNT(*) FROM serve_webhooks")[0][0], "10")
        self.assertEqual(len(self.ok(p, "GET", "/v1/destinations", headers=h)["data"]), 10)
        print("fan-out to 10 of 10,000 destinations: %.1f ms" % (took * 1000))
        # /metrics: per-account series, at most 100 accounts and "other" — webhooks of 150
        # accounts written directly (delivering them would only time the claims)
        self.db_write(gen % 149 + "INSERT INTO serve_webhooks (id, event_id, destination_id, "
                      "status, attempt_count, round_attempts, created_at, updated_at, account_id) "
                      "SELECT 'w' || i, 'e', 'd', 'failed', 2, 2, 1, 1, 'a' || (1000 + i) FROM n")
        time.sleep(1.1)  # past the count /metrics keeps for a second
        _, _, body = harness.request("GET", p.port, "/metrics")
        text = body.decode()
        accounts = set(__import__("re").findall(r'hookd_account_attempts\{account="([^"]+)"', text))
        self.assertLessEqual(len(accounts), 101)
        self.assertIn("other", accounts)  # the 101st account on
        self.assertTrue('hookd_account_webhooks{account="a1000",status="failed"} 1\n' in text)
        self.assertTrue('hookd_account_attempts{account="a1000"} 2\n' in text)
        self.assertTrue('hookd_account_webhooks{account="other",status="failed"} 50\n' in text)
        self.assertFalse('account="a1149"' in text)

    def test_readme_walkthrough(self):
        """README "Accounts and access keys": an account, a key with exactly MeetBit's three
        permissions for it, MeetBit's setup with that key, and nothing else."""
        p = self.start_serve()
        self.ok(p, "POST", "/v1/accounts", {"id": "acme", "name": "Acme Inc."}, status=201)
        key = self.ok(p, "POST", "/v1/access-keys",
                      {"name": "acme setup", "account": "acme",
                       "permissions": ["destinations.read", "destinations.create",
                                       "destinations.activate"]}, status=201)["key"]
        status, made = self.as_key(p, key, "POST", "/v1/destinations",
                                   {"name": "my app", "url": "https://example.com/webhooks",
                                    "events": ["events.created"]})
        self.assertEqual(status, 201, made)
        self.assertTrue(made["secret"])
        self.assertFalse(made["active"])
        status, got = self.as_key(p, key, "GET", "/v1/destinations/" + made["id"])
        self.assertEqual((status, got["name"]), (200, "my app"))
        status, act = self.as_key(p, key, "POST", "/v1/destinations/%s/activate" % made["id"])
        self.assertEqual((status, act["active"]), (200, True))
        # and nothing else
        for method, path, body, perm in [
                ("POST", "/v1/events", EVENT, "events.create"),
                ("GET", "/v1/destinations/%s/secret" % made["id"], None, "destinations.secret"),
                ("DELETE", "/v1/destinations/" + made["id"], None, "destinations.delete"),
                ("PATCH", "/v1/destinations/" + made["id"], {"name": "x"}, "destinations.update"),
                ("GET", "/v1/webhooks", None, "webhooks.read"),
                ("GET", "/v1/access-keys", None, "access_keys.manage")]:
            self.assert_forbidden(self.as_key(p, key, method, path, body),
                                  "missing permission " + perm)
        # its account only: X-Account-Id is ignored, default's destinations are 404 to it
        other = self.ok(p, "POST", "/v1/destinations",
                        {"name": "d", "url": "https://example.com/x", "events": ["events.created"]},
                        status=201)
        self.assertEqual(self.as_key(p, key, "GET", "/v1/destinations/" + other["id"],
                                     account="default")[0], 404)
        _, listed = self.as_key(p, key, "GET", "/v1/destinations", account="default")
        self.assertEqual([x["id"] for x in listed["data"]], [made["id"]])


if __name__ == "__main__":
    harness.main()
