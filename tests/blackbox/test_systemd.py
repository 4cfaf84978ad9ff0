"""test_systemd.py — the systemd side: dist/systemd's units pass `systemd-analyze verify` (with
the man pages of their Documentation= lines), and serve and receive speak sd_notify —
READY=1 once their sockets listen, STOPPING=1 when SIGTERM starts the orderly stop.
HOOKD_BACKENDS: sqlite
"""
import os
import shutil
import socket
import subprocess

import harness
from serve_support import ServeCase

SOURCE = os.environ["HOOKD_SOURCE_DIR"]
UNITS = os.path.join(SOURCE, "dist", "systemd")
MAN_DIR = os.path.join(os.path.dirname(os.environ["HOOKD_BIN"]), "man")


class SystemdTest(ServeCase):

    def notify_socket(self):
        """A datagram socket standing in for systemd's; returns (socket, its path)."""
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(15)
        self.addCleanup(s.close)
        return s, path

    def assert_notify_cycle(self, p, sock, port):
        """READY=1 arrives once port accepts connections; STOPPING=1 after SIGTERM."""
        self.assertEqual(sock.recv(4096), b"READY=1")
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        p.proc.send_signal(15)
        self.assertEqual(sock.recv(4096), b"STOPPING=1")
        self.assertEqual(p.proc.wait(timeout=20), 0, p.output())

    def test_serve_notifies(self):
        sock, path = self.notify_socket()
        p = self.start_serve(env={"NOTIFY_SOCKET": path})
        self.assert_notify_cycle(p, sock, p.port)

    def test_receive_notifies(self):
        sock, path = self.notify_socket()
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        p = self.hookd(["receive", "--db", db.url, "--listen", "127.0.0.1:%d" % port,
                        "--admin-listen", "127.0.0.1:%d" % admin, "--secret", "s3cret-value",
                        "--exec", "true"], env={"NOTIFY_SOCKET": path}, wait_port=port,
                       name="receive")
        self.assert_notify_cycle(p, sock, port)

    def test_without_notify_socket_nothing_changes(self):
        p = self.start_serve(env={"NOTIFY_SOCKET": ""})
        # the port opens a moment before SIGTERM is handled: wait for an answer first
        self.assertEqual(harness.request("GET", p.port, "/healthz")[0], 200)
        self.assertEqual(p.terminate(), 0)
        self.assertNotIn("systemd", p.output())

    def test_units_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is absent (apt-get install systemd)")
        # man finds pages under MANPATH/man1; verify runs `man` for each Documentation=
        man1 = os.path.join(self.tmp, "man", "man1")
        os.makedirs(man1)
        for page in os.listdir(MAN_DIR):
            os.symlink(os.path.join(MAN_DIR, page), os.path.join(man1, page))
        units = []
        for name in sorted(os.listdir(UNITS)):
            with open(os.path.join(UNITS, name)) as f:
                text = f.read()
            for setting in ("Type=notify", "DynamicUser=yes", "NoNewPrivileges=yes",
                            "ProtectSystem=strict", "SystemCallFilter=@system-service"):
                self.assertIn("\n%s\n" % setting, text, name)
            # verify wants ExecStart's program to exist: this build's stands in for /usr/bin's
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(text.replace("/usr/bin/hookd", os.environ["HOOKD_BIN"]))
            units.append(path)
        self.assertEqual([os.path.basename(u) for u in units],
                         ["hookd-receive.service", "hookd.service"])
        r = subprocess.run([analyze, "verify"] + units, capture_output=True, text=True,
                           env=dict(os.environ, MANPATH=os.path.join(self.tmp, "man")),
                           timeout=120)
        # unknown keys are only warnings (exit 0): any output is a failure
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))


if __name__ == "__main__":
    harness.main()
