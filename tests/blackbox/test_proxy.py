"""test_proxy.py — `hookd serve --proxy URL`: attempts go through the proxy as CONNECT
tunnels to the address hookd resolved and checked itself, so the address policy still
applies to the destination (and never to the proxy); proxies from the environment are
ignored.
HOOKD_BACKENDS: sqlite
"""
import socket
import socketserver
import threading

import harness
from serve_support import ServeCase, verify


class ConnectProxy:
    """A CONNECT-only HTTP proxy that records each tunnel's target and connects every tunnel
    to one local port (so a test may ask for a public documentation address)."""

    def __init__(self, upstream_port):
        self.targets = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode()
                with proxy.lock:
                    proxy.targets.append(line)
                if not line.startswith("CONNECT "):
                    self.request.sendall(b"HTTP/1.1 405 CONNECT only\r\nContent-Length: 0\r\n\r\n")
                    return
                upstream = socket.create_connection(("127.0.0.1", upstream_port))
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
                pump = threading.Thread(target=self.copy, args=(upstream, self.request),
                                        daemon=True)
                pump.start()
                self.copy(self.request, upstream)
                pump.join(5)
                upstream.close()

            @staticmethod
            def copy(src, dst):
                try:
                    while True:
                        data = src.recv(65536)
                        if not data:
                            break
                        dst.sendall(data)
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def seen(self):
        with self.lock:
            return list(self.targets)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ProxyTest(ServeCase):

    def proxy_to(self, port):
        proxy = ConnectProxy(port)
        self.addCleanup(proxy.close)
        return proxy

    def deliver(self, p, url):
        """Posts one event to a new destination at url; returns the webhook once finished."""
        d = self.destination(p, url)
        wid = [w["id"] for w in self.event(p)["webhooks"] if w["destination_id"] == d["id"]][0]

        def finished():
            w = self.webhook(p, wid)
            return w if w["status"] != "pending" or w["attempt_count"] > 0 else None
        w = harness.wait_until(finished, 15, interval=0.05, what="an attempt")
        self.ok(p, "POST", "/v1/destinations/%s/deactivate" % d["id"])  # one at a time
        return d, w

    def test_tunnel_to_the_checked_address(self):
        rec = self.recorder()
        proxy = self.proxy_to(rec.port)
        # public addresses (documentation ones are refused since issue 11); the test proxy
        # maps them to rec and never connects out
        p = self.start_serve(["--proxy", proxy.url], allow_private=False,
                             env={"http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "x"})
        for host, target in (("93.184.216.7", "93.184.216.7"),
                             ("[2606:2800:220:1::7]", "[2606:2800:220:1::7]")):
            d, w = self.deliver(p, "http://%s:8080/hook" % host)
            self.assertEqual(w["status"], "succeeded", w)
            self.assertIn("CONNECT %s:8080 HTTP/1.1" % target, proxy.seen())
            got = [r for r in rec.received() if r["headers"].get("x-webhook-id") == w["id"]]
            self.assertEqual(len(got), 1)
            verify(self, got[0], d["secret"], w["id"])

    def test_policy_applies_to_the_destination_not_the_proxy(self):
        rec = self.recorder()
        proxy = self.proxy_to(rec.port)  # the proxy itself is on loopback: allowed
        p = self.start_serve(["--proxy", proxy.url, "--max-attempts", "1"], allow_private=False)
        for url, refused in (("http://localhost:%d/hook" % rec.port, "is loopback"),
                             ("http://10.1.2.3/hook", "10.1.2.3 is private"),
                             ("http://[::ffff:192.168.0.1]/hook", "is private")):
            _, w = self.deliver(p, url)
            self.assertEqual(w["status"], "failed", w)
            error = self.webhook(p, w["id"])["attempts"][0]["error"]
            self.assertIn("address refused: ", error)
            self.assertIn(refused, error)
        self.assertEqual(proxy.seen(), [])
        self.assertEqual(rec.count(), 0)

    def test_allow_private_goes_through_the_proxy_unchecked(self):
        rec = self.recorder()
        proxy = self.proxy_to(rec.port)
        p = self.start_serve(["--proxy", proxy.url])  # --allow-private-addresses
        _, w = self.deliver(p, "http://127.0.0.1:%d/hook" % rec.port)
        self.assertEqual(w["status"], "succeeded", w)
        self.assertEqual(proxy.seen(), ["CONNECT 127.0.0.1:%d HTTP/1.1" % rec.port])

    def test_bad_proxy_flag(self):
        code, _, err = self.run_hookd(["serve", "--proxy", "socks5://127.0.0.1:1080"])
        self.assertEqual(code, 2)
        self.assertIn('--proxy: "socks5://127.0.0.1:1080" is not an http:// or https:// URL',
                      err)


if __name__ == "__main__":
    harness.main()
