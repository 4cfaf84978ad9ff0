"""test_deb.py — `make deb`'s package (scripts/make-deb.sh on this build): its files, control
fields and dependencies (dpkg-deb -c / -I), and, unpacked in a temporary root, a program
that runs, man pages that render, and a library (shared libhookd.so.0 and static libhookd.a)
that a 20-line verifier compiles against through pkg-config and runs with. Installing it system-wide is left to people (see README).
HOOKD_BACKENDS: none
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

SOURCE = os.environ["HOOKD_SOURCE_DIR"]
BUILD = os.path.dirname(os.environ["HOOKD_BIN"])

VERIFIER = r"""
#include <hookd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(void)
{
    const char *body = "{\"event\":\"events.created\",\"data\":{}}";
    hookd_secret secret = {"s3cret", 6};
    char ts[HOOKD_TIMESTAMP_LEN + 1], sig[65];
    time_t now = time(NULL);
    if (hookd_timestamp_format(now, ts) != HOOKD_OK ||
        hookd_sign("s3cret", 6, "id-1", ts, body, strlen(body), sig) != HOOKD_OK)
        return 2;
    int rc = hookd_verify(&secret, 1, "id-1", ts, sig, body, strlen(body), now, 300);
    puts(rc == HOOKD_OK ? "verified" : hookd_strerror(rc));
    return rc == HOOKD_OK ? 0 : 1;
}
"""


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


class DebTest(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        if not shutil.which("dpkg-deb") or not shutil.which("dpkg-shlibdeps"):
            raise unittest.SkipTest("dpkg-dev is not installed")
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            if re.search(r"^HOOKD_(SANITIZE|TSAN):BOOL=ON", f.read(), re.M):
                raise unittest.SkipTest("a sanitizer build is not packaged (make-deb.sh "
                                        "refuses it; the plain build's test covers it)")
        cls.out = tempfile.mkdtemp(prefix="hookd-deb-")
        r = run([os.path.join(SOURCE, "scripts", "make-deb.sh"), BUILD, cls.out])
        assert r.returncode == 0, r.stderr
        cls.deb = r.stdout.strip()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def test_contents(self):
        r = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {line.split()[5] for line in r.stdout.splitlines()}  # "-> target" after
        for path in ("./usr/bin/hookd", "./usr/lib/libhookd.a", "./usr/lib/libhookd.so",
                     "./usr/lib/libhookd.so.0", "./usr/include/hookd.h",
                     "./usr/lib/pkgconfig/hookd.pc", "./lib/systemd/system/hookd.service",
                     "./lib/systemd/system/hookd-receive.service", "./etc/hookd/serve.conf",
                     "./etc/hookd/receive.conf", "./usr/share/doc/hookd/copyright",
                     "./usr/share/doc/hookd/openapi.yaml",
                     "./usr/share/man/man1/hookd.1.gz", "./usr/share/man/man1/hookd-serve.1.gz",
                     "./usr/share/man/man1/hookd-receive.1.gz"):
            self.assertIn(path, files)
        self.assertTrue(all(" root/root " in line for line in r.stdout.splitlines()))

    def test_control(self):
        fields = {}
        for name in ("Package", "Version", "Architecture", "Depends"):
            r = run(["dpkg-deb", "-f", self.deb, name])
            self.assertEqual(r.returncode, 0, r.stderr)
            fields[name] = r.stdout.strip()
        _, version, _ = self.run_hookd(["--version"])
        self.assertEqual(fields["Package"], "hookd")
        self.assertEqual(fields["Version"], version.split()[1] + "-1")
        self.assertEqual(os.path.basename(self.deb),
                         "hookd_%s_%s.deb" % (fields["Version"], fields["Architecture"]))
        for lib in ("libc6", "libevent-core-2.1-7", "libjansson4", "libsqlite3-0",
                    "libpq5", "libssl3"):
            self.assertRegex(fields["Depends"], r"(^|, )%s( \(|,|$)" % re.escape(lib))
        r = run(["dpkg-deb", "-I", self.deb, "conffiles"])
        self.assertEqual(r.stdout.split(), ["/etc/hookd/serve.conf", "/etc/hookd/receive.conf"])
        r = run(["dpkg-deb", "-I", self.deb, "triggers"])
        self.assertEqual(r.stdout.split(), ["activate-noawait", "ldconfig"])

    def test_unpacked(self):
        root = os.path.join(self.tmp, "root")
        self.assertEqual(run(["dpkg-deb", "-x", self.deb, root]).returncode, 0)
        r = run([os.path.join(root, "usr/bin/hookd"), "--version"])
        self.assertEqual((r.returncode, r.stdout.split()[0]), (0, "hookd"))
        # the default settings parse (and say what receive still needs)
        r = run([os.path.join(root, "usr/bin/hookd"), "receive", "--config",
                 os.path.join(root, "etc/hookd/receive.conf")])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--secret is required", r.stderr)
        # the packaged serve.conf starts the sender (its database and port moved here)
        port = harness.free_port()
        p = self.hookd(["serve", "--config", os.path.join(root, "etc/hookd/serve.conf"),
                        "--db", "sqlite:" + os.path.join(self.tmp, "s.db"),
                        "--listen", "127.0.0.1:%d" % port], wait_port=port, name="serve")
        self.assertEqual(harness.request("GET", port, "/healthz")[0], 200)
        self.assertEqual(p.terminate(), 0)
        if shutil.which("man"):
            r = run(["man", "-l", os.path.join(root, "usr/share/man/man1/hookd-serve.1.gz")],
                    env=dict(os.environ, MANPAGER="cat", LANG="C.UTF-8"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("--max-in-flight", r.stdout)

    def build_verifier(self, static):
        """Unpacks the package, compiles VERIFIER with pkg-config's flags (static: against
        libhookd.a alone); returns (root, executable)."""
        if not shutil.which("pkg-config") or not shutil.which("cc"):
            self.skipTest("pkg-config or cc is missing")
        root = os.path.join(self.tmp, "root")
        run(["dpkg-deb", "-x", self.deb, root])
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(root, "usr/lib/pkgconfig"),
                   PKG_CONFIG_SYSROOT_DIR=root)
        r = run(["pkg-config", "--cflags", "--libs"] + (["--static"] if static else []) +
                ["hookd"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-I%s/usr/include" % root, r.stdout)
        flags = r.stdout.split()
        if static:  # both are in libdir, and cc prefers the .so: name the archive
            flags = [f if f != "-lhookd" else "-l:libhookd.a" for f in flags]
        src, exe = os.path.join(self.tmp, "v.c"), os.path.join(self.tmp, "v")
        with open(src, "w") as f:
            f.write(VERIFIER)
        r = run(["cc", "-o", exe, src] + flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        return root, exe

    def test_library_through_pkg_config_static(self):
        _, exe = self.build_verifier(static=True)
        self.assertNotIn("libhookd", run(["readelf", "-d", exe]).stdout)
        r = run([exe])
        self.assertEqual((r.returncode, r.stdout), (0, "verified\n"))

    def test_library_through_pkg_config_shared(self):
        root, exe = self.build_verifier(static=False)
        self.assertIn("Shared library: [libhookd.so.0]", run(["readelf", "-d", exe]).stdout)
        r = run(["readelf", "-d", os.path.join(root, "usr/lib/libhookd.so.0")])
        self.assertIn("Library soname: [libhookd.so.0]", r.stdout)
        # not found without the unpacked library: the program really loads the .so
        self.assertNotEqual(run([exe]).returncode, 0)
        r = run([exe], env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib")))
        self.assertEqual((r.returncode, r.stdout), (0, "verified\n"))


if __name__ == "__main__":
    harness.main()
