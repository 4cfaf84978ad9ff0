"""test_serve_safety.py — where `hookd serve` may connect and how: loopback refused at connect
time by default (the refusal recorded on the attempt), https with a CA file, an untrusted
certificate refused, and the default 10-second timeout.
HOOKD_BACKENDS: sqlite postgres
"""
import http.server
import os
import ssl
import subprocess
import threading

import harness
from serve_support import ServeCase, verify


class TlsRecorder:
    """An https server on 127.0.0.1 with a fresh self-signed certificate, answering 200."""

    def __init__(self, tmpdir):
        self.cert = os.path.join(tmpdir, "cert.pem")
        self.key = os.path.join(tmpdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", self.key, "-out", self.cert, "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True, timeout=60)
        self.requests = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append({"headers": {k.lower(): v for k, v in
                                                      self.headers.items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ServeSafetyTest(ServeCase):

    def tls_recorder(self):
        r = TlsRecorder(self.tmp)
        self._servers.append(r)
        return r

    def test_loopback_refused_at_connect_time_by_default(self):
        rec = self.recorder()
        p = self.start_serve(["--max-attempts", "1"], allow_private=False)
        # the URL is accepted when saved: the address is checked when connecting
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        err = w["attempts"][0]["error"]
        self.assertIn("refused", err)
        self.assertIn("loopback", err)
        self.assertIsNone(w["attempts"][0]["status_code"])
        self.assertEqual(rec.count(), 0)

    def test_https_destination_trusted_through_ca_file(self):
        tls = self.tls_recorder()
        p = self.start_serve(["--ca-file", tls.cert], allow_http=False)
        d = self.destination(p, tls.url)
        wid = self.event(p)["webhooks"][0]["id"]
        self.wait_status(p, wid, "succeeded")
        self.assertEqual(len(tls.requests), 1)
        verify(self, tls.requests[0], d["secret"], wid)

    def test_untrusted_certificate_is_a_failed_attempt(self):
        tls = self.tls_recorder()
        p = self.start_serve(["--max-attempts", "1"], allow_http=False)
        self.destination(p, tls.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed")
        self.assertTrue(w["attempts"][0]["error"])
        self.assertEqual(tls.requests, [])

    def test_default_timeout_is_ten_seconds(self):
        rec = self.recorder(lambda req: (200, {}, b"", 12))
        p = self.start_serve(["--max-attempts", "1"], fast=False)
        self.destination(p, rec.url)
        wid = self.event(p)["webhooks"][0]["id"]
        w = self.wait_status(p, wid, "failed", timeout=16)
        a = w["attempts"][0]
        self.assertIn("timeout", a["error"].lower())
        self.assertGreaterEqual(a["duration_ms"], 9500)
        self.assertLess(a["duration_ms"], 11500)


if __name__ == "__main__":
    harness.main()
