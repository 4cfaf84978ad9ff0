"""test_openapi.py — docs/openapi.yaml against the server: GET /openapi.json serves it (no
token), `redocly lint` finds no error in it, and its paths and methods are exactly the routes
`hookd serve` answers — read from serve_api.c's route table and probed on the live server.
HOOKD_BACKENDS: sqlite
"""
import json
import os
import re
import shutil
import subprocess

import yaml

import harness
from serve_support import ServeCase

SOURCE = os.environ["HOOKD_SOURCE_DIR"]
DOC_YAML = os.path.join(SOURCE, "docs", "openapi.yaml")
REDOCLY = "@redocly/cli@2.77.0"  # pinned: a new rule in a new release must not fail old trees
METHODS = ("get", "post", "patch", "delete", "put")


def documented():
    """{(METHOD, path template)} of docs/openapi.yaml."""
    with open(DOC_YAML, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return doc, {(m.upper(), path) for path, item in doc["paths"].items()
                 for m in item if m in METHODS}


def route_table():
    """{(METHOD, path template)} of serve_api.c: the /v1/ table and the top-level paths."""
    with open(os.path.join(SOURCE, "src", "serve_api.c"), encoding="utf-8") as f:
        src = f.read()
    table = re.search(r"\} routes\[\] = \{(.*?)\n\};", src, re.S).group(1)
    routes = {(m, "/v1/" + p.replace(":id", "{id}"))
              for p, m in re.findall(r'\{"([^"]+)", SERVE_API_(GET|POST|PATCH|DELETE),', table)}
    handle = re.search(r"static void serve_api_handle\(.*?\n\}", src, re.S).group(0)
    for top in re.findall(r'n == 1 && strcmp\(segs\[0\], "([^"]+)"\) == 0', handle):
        routes.add(("GET", "/" + top))
    # /admin/… is the admin panel (SPEC §7, serve_panel.c): HTML pages for a browser, not
    # part of the JSON API, so deliberately neither in the route table nor in the document.
    assert '"admin"' in handle, "serve_api_handle no longer mounts the panel under /admin"
    return {(m, path) for m, path in routes if not path.startswith("/admin")}


class OpenApiTest(ServeCase):

    def test_served_document_is_the_yaml(self):
        doc, _ = documented()
        p = self.start_serve()
        status, headers, body = harness.request("GET", p.port, "/openapi.json")
        self.assertEqual(status, 200)
        self.assertIn("application/json", {k.lower(): v for k, v in headers.items()}
                      .get("content-type", ""))
        self.assertEqual(json.loads(body), doc)
        self.assertEqual(doc["openapi"], "3.1.0")

    def test_document_and_route_table_agree(self):
        _, docs = documented()
        table = route_table()
        self.assertGreater(len(table), 15, "the route table was not found in serve_api.c")
        self.assertEqual(sorted(table - docs), [], "routes missing from docs/openapi.yaml")
        self.assertEqual(sorted(docs - table), [], "documented routes the server lacks")

    def test_every_documented_route_is_answered(self):
        """The live server routes each documented operation (no 'no such route', no 405),
        and each documented path's 405 Allow lists exactly the documented methods."""
        _, docs = documented()
        p = self.start_serve()
        by_path = {}
        for method, path in docs:
            by_path.setdefault(path, set()).add(method)
        for path, methods in sorted(by_path.items()):
            url = path.replace("{id}", "nonexistent-id")
            for method in sorted(methods):
                status, _, body = harness.request(
                    method, p.port, url, b"{}" if method in ("POST", "PATCH") else None,
                    {"Authorization": "Bearer " + p.token})
                self.assertNotEqual(status, 405, "%s %s" % (method, url))
                if status == 404:
                    self.assertNotEqual(json.loads(body)["error"]["message"], "no such route",
                                        "%s %s" % (method, url))
            if not path.startswith("/v1/"):
                continue  # /healthz, /metrics, /openapi.json answer every method
            status, headers, _ = harness.request(
                "PUT", p.port, url, b"{}", {"Authorization": "Bearer " + p.token})
            self.assertEqual(status, 405, url)
            allow = {k.lower(): v for k, v in headers.items()}["allow"]
            self.assertEqual({m.strip() for m in allow.split(",")}, methods, url)

    def test_redocly_lint(self):
        tools = os.path.join(os.path.dirname(os.environ["HOOKD_BIN"]), "npm-tools")
        redocly = os.path.join(tools, "node_modules", ".bin", "redocly")
        if not os.path.exists(redocly):
            if not shutil.which("npm"):
                self.skipTest("npm is not installed (Node 20 + npm run redocly lint)")
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", tools,
                                REDOCLY], capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                self.skipTest("npm install %s failed (offline?): %s" % (REDOCLY, r.stderr[-500:]))
        r = subprocess.run([redocly, "lint", "--format", "stylish", DOC_YAML],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    harness.main()
