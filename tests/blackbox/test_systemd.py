"""test_systemd.py — the systemd side: dist/systemd's units pass `systemd-analyze verify` (with
the man pages of their Documentation= lines), and serve and receive speak sd_notify —
READY=1 once their sockets listen, STOPPING=1 when SIGTERM starts the orderly stop — and that
log lines carry their syslog priority when stderr is the journal ($JOURNAL_STREAM).
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

    def serve_log_lines(self, journal_stream):
        """The log lines of a serve started and stopped with stderr in a file and
        JOURNAL_STREAM set by journal_stream(the file's os.stat)."""
        path = os.path.join(self.tmp, "stderr-%d.log" % harness.free_port())
        port = harness.free_port()
        with open(path, "wb") as log:
            st = os.fstat(log.fileno())
            env = dict(os.environ, JOURNAL_STREAM=journal_stream(st), NOTIFY_SOCKET="")
            proc = subprocess.Popen([os.environ["HOOKD_BIN"], "serve", "--db",
                                     self.database().url, "--listen", "127.0.0.1:%d" % port,
                                     "--api-token", "test-token-0123456789"],
                                    stdout=subprocess.DEVNULL, stderr=log, env=env)
        self.addCleanup(proc.kill)
        harness.wait_until(lambda: "listening on" in open(path).read(), timeout=15,
                           what="serve listening")
        proc.terminate()
        self.assertEqual(proc.wait(timeout=20), 0)
        with open(path) as f:
            return [line for line in f.read().splitlines() if line]

    def test_journal_gets_priorities(self):
        # stderr is the journal's stream: journald files each line at its "<N>" priority
        lines = self.serve_log_lines(lambda st: "%d:%d" % (st.st_dev, st.st_ino))
        self.assertTrue(any(line.startswith("<6>") and "info serve: listening on" in line
                            for line in lines), lines)
        self.assertEqual([line for line in lines if not line[:3] in ("<6>", "<7>")], [])
        # a variable inherited by a process whose stderr goes elsewhere changes nothing
        lines = self.serve_log_lines(lambda st: "%d:%d" % (st.st_dev, st.st_ino + 1))
        self.assertTrue(any("info serve: listening on" in line for line in lines), lines)
        self.assertEqual([line for line in lines if line.startswith("<")], [])

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
