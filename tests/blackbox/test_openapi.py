"""test_openapi.py — docs/openapi.yaml against the server: GET /openapi.json serves it (no
token), `redocly lint` finds no error in it, and its paths and methods are exactly the routes
`hookd serve` answers — read from serve_api.c's route table and probed on the live server.
HOOKD_BACKENDS: sqlite

The front door's own answers (400, 408, 413, 431, 405/501, 503) are documented on every
operation, and what the live front door sends matches the documented Error schema.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import yaml

import harness
from serve_support import ServeCase

SOURCE = os.environ["HOOKD_SOURCE_DIR"]
DOC_YAML = os.path.join(SOURCE, "docs", "openapi.yaml")
REDOCLY = "@redocly/cli@2.77.0"  # pinned: a new rule in a new release must not fail old trees
METHODS = ("get", "post", "patch", "delete", "put")
# the front door's answers, documented on every operation (before the operation runs)
FRONT_DOOR = {"400": "BadRequest", "408": "RequestTimeout", "413": "TooLarge",
              "431": "HeadersTooLarge", "501": "NotImplemented", "503": "Unavailable"}


def schema_errors(doc, schema, value, where="$"):
    """What in value breaks schema (a list of strings; empty when it conforms): the subset of
    JSON Schema the document's Error uses ($ref, type object/string, required, properties,
    enum), followed by hand so that the test needs no extra package."""
    if "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return schema_errors(doc, node, value, where)
    errors = []
    kind = schema.get("type")
    if kind == "object" and not isinstance(value, dict):
        return ["%s is not an object" % where]
    if kind == "string" and not isinstance(value, str):
        return ["%s is not a string" % where]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of the documented values" % (where, value))
    for key in schema.get("required", []):
        if key not in value:
            errors.append("%s lacks %s" % (where, key))
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value:
            errors += schema_errors(doc, sub, value[key], "%s.%s" % (where, key))
    return errors


def exchange(port, raw, wait=5.0):
    """Sends raw bytes; returns (status, headers lowercased, body bytes) of the one answer,
    read to the close."""
    data = harness.raw_exchange(port, raw, timeout=wait).removesuffix(b"<timeout>")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/1.1 ") else None
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


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

    def test_front_door_answers_are_on_every_operation(self):
        doc, _ = documented()
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method not in METHODS:
                    continue
                for status, name in FRONT_DOOR.items():
                    if path == "/readyz" and status == "503":
                        continue  # its own "not ready" answer
                    self.assertEqual(op["responses"].get(status),
                                     {"$ref": "#/components/responses/" + name},
                                     "%s %s: %s" % (method.upper(), path, status))

    def test_front_door_error_bodies_match_the_schema(self):
        """Each refusal the front door makes on its own, provoked on the live server: the
        status is documented for POST /v1/events, the body conforms to components/schemas/
        Error (its code among the documented ones), the headers the component names are
        sent, and the sender counts it in hookd_api_rejected_total."""
        doc, _ = documented()
        p = self.start_serve(["--header-timeout", "1s", "--max-header-size", "2KiB",
                              "--max-buffered-body", "64KiB"])
        auth = "Authorization: Bearer %s\r\n" % p.token
        post = "POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth
        cases = {
            "bad_request": (post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}").encode(),
            "request_timeout": (post + "Content-Length: 2\r\n").encode(),
            "too_large": (post + "Transfer-Encoding: chunked\r\n\r\n").encode() +
            b"".join(b"10000\r\n" + b"x" * 0x10000 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n",
            "headers_too_large": (post + "X-Pad: %s\r\n\r\n" % ("p" * 3000)).encode(),
            "not_implemented": b"BREW /v1/events HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        answers = {code: exchange(p.port, raw) for code, raw in cases.items()}
        # busy: one unfinished 60 KiB body holds the 64 KiB budget, a second is refused
        holder = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        holder.sendall((post + "Content-Length: 61440\r\n\r\n{").encode())
        time.sleep(0.2)
        answers["busy"] = exchange(p.port, (post + "Content-Length: 61440\r\n\r\n").encode())
        holder.close()
        operation = doc["paths"]["/v1/events"]["post"]["responses"]
        documented_status = {"bad_request": "400", "request_timeout": "408", "too_large": "413",
                             "headers_too_large": "431", "not_implemented": "501", "busy": "503"}
        for code, (status, headers, body) in answers.items():
            self.assertEqual(str(status), documented_status[code], "%s: %r" % (code, body))
            self.assertIn(str(status), operation, code)
            self.assertIn("application/json", headers.get("content-type", ""), code)
            answer = json.loads(body)
            self.assertEqual(schema_errors(doc, {"$ref": "#/components/schemas/Error"}, answer),
                             [], code)
            self.assertEqual(answer["error"]["code"], code)
            component = doc["components"]["responses"][FRONT_DOOR[str(status)]]
            for name in component.get("headers", {}):
                self.assertIn(name.lower(), headers, "%s: the documented %s header" % (code, name))
        _, _, metrics = harness.request("GET", p.port, "/metrics")
        for code in documented_status:
            self.assertIn('hookd_api_rejected_total{reason="%s"} 1' % code, metrics.decode())

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
