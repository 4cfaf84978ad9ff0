"""test_man.py — the manual pages the build writes (build/man, installed by make install) render
with `man -l`, are what `hookd help --man` prints, and list every flag `--help` lists.
HOOKD_BACKENDS: none
"""
import os
import re
import shutil
import subprocess

import harness

COMMANDS = ("serve", "receive", "sign", "verify", "send")
MAN_DIR = os.path.join(os.path.dirname(os.environ["HOOKD_BIN"]), "man")


def render(path):
    """The page as man shows it (no pager, wide lines so a flag is never split)."""
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", MANWIDTH="200", MANPAGER="cat",
               PAGER="cat")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                       env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


class ManTest(harness.TestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which("man"):
            self.skipTest("man (man-db) is not installed")

    def flags_of_help(self, command):
        code, out, err = self.run_hookd([command, "--help"])
        self.assertEqual(code, 0, err)
        flags = set(re.findall(r"^  (?:-h, )?(--[a-z][a-z-]*)", out, re.M))
        self.assertIn("--help", flags)
        return flags

    def test_command_pages(self):
        for command in COMMANDS:
            with self.subTest(command=command):
                path = os.path.join(MAN_DIR, "hookd-%s.1" % command)
                code, printed, _ = self.run_hookd(["help", "--man", command])
                self.assertEqual(code, 0)
                with open(path, encoding="utf-8") as f:
                    self.assertEqual(f.read(), printed, "%s is stale" % path)
                code, text, err = render(path)
                self.assertEqual((code, err), (0, ""), path)
                self.assertIn("hookd-%s - " % command, text)
                for flag in self.flags_of_help(command):
                    self.assertRegex(text, r"(?m)^\s+(-h, )?%s\b" % re.escape(flag),
                                     "%s: %s is in --help but not in the page" % (path, flag))
                # and the other way: every flag the page describes is one --help lists
                described = set(re.findall(r"(?m)^ {7}(?:-h, )?(--[a-z][a-z-]*)", text))
                self.assertEqual(described, self.flags_of_help(command), path)

    def test_environment_is_documented(self):
        _, serve, _ = render(os.path.join(MAN_DIR, "hookd-serve.1"))
        _, receive, _ = render(os.path.join(MAN_DIR, "hookd-receive.1"))
        self.assertRegex(serve, r"ENVIRONMENT\n(.*\n)*\s+HOOKD_API_TOKEN")
        self.assertRegex(receive, r"ENVIRONMENT\n(.*\n)*\s+HOOKD_SECRET")
        for page in (serve, receive):
            self.assertIn("HOOKD_LOG_LEVEL", page)

    def test_index_page(self):
        path = os.path.join(MAN_DIR, "hookd.1")
        code, text, err = render(path)
        self.assertEqual((code, err), (0, ""))
        _, usage, _ = self.run_hookd(["--help"])
        listed = re.findall(r"^  ([a-z]+) +[a-z]", usage, re.M)
        self.assertEqual(sorted(listed), sorted(COMMANDS))
        for command in listed:
            self.assertIn("hookd-%s(1)" % command, text)
        for var in ("HOOKD_LOG_LEVEL", "HOOKD_API_TOKEN", "HOOKD_SECRET"):
            self.assertIn(var, text)


if __name__ == "__main__":
    harness.main()
