"""browser_support.py — a real browser for the admin panel tests (SPEC §7): Debian's
`chromium` driven by playwright-core from npm, headless.

playwright-core is installed once into build/node-test/ (beside build/hookd, as
node_support.py does for the provider libraries), only when missing, under the same lock.
Without chromium, node or npm the tests fail with a message saying what to install: a
browser test that skips would pass on a machine where nothing was checked.
"""
import fcntl
import json
import os
import shutil
import subprocess

import node_support

PACKAGE = "playwright-core"
CHROMIUM = "/usr/bin/chromium"
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(os.path.dirname(HERE), "browser")


def setup():
    """Makes sure chromium, node, npm and playwright-core are there; raises with the reason."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError("the panel's browser tests need Debian's chromium at %s: "
                           "run scripts/deps.sh test as root (or apt-get install chromium)"
                           % CHROMIUM)
    if not node or not npm:
        raise RuntimeError("the panel's browser tests need Node.js 20 and npm on the PATH "
                           "(node: %s, npm: %s)" % (node or "missing", npm or "missing"))
    os.makedirs(node_support.NODE_DIR, exist_ok=True)
    with open(os.path.join(node_support.NODE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(node_support.NODE_DIR, "node_modules", PACKAGE,
                                           "package.json")):
            p = subprocess.run([npm, "install", "--no-audit", "--no-fund", PACKAGE],
                               cwd=node_support.NODE_DIR, capture_output=True, timeout=600)
            if p.returncode != 0:
                raise RuntimeError("npm install %s failed:\n%s" % (
                    PACKAGE, p.stderr.decode(errors="replace")[-4000:]))


def run(script, config, timeout=240):
    """Runs tests/browser/<script> with config (JSON on stdin); returns its JSON answer.

    The script (with common.mjs, which it imports) is copied beside node_modules (ESM resolves packages from the script's own
    folder). A failed check in the script fails the test with the script's own message."""
    target = os.path.join(node_support.NODE_DIR, script)
    for name in (script, "common.mjs"):  # the walk and what it imports
        shutil.copyfile(os.path.join(BROWSER_DIR, name), os.path.join(node_support.NODE_DIR, name))
    config = dict(config, chromium=CHROMIUM)
    p = subprocess.run(["node", target], input=json.dumps(config).encode(),
                       capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("node %s failed:\n%s\n%s" % (
            script, p.stdout.decode(errors="replace")[-4000:],
            p.stderr.decode(errors="replace")[-8000:]))
    return json.loads(p.stdout.decode().strip().splitlines()[-1])
