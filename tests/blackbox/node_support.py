"""node_support.py — the providers' own libraries for the provider tests (SPEC §8):
standardwebhooks 1.1.1, @octokit/webhooks-methods and stripe, from npm, driven through
providers.mjs by Node.js.

The packages are installed once into build/node-test/ (beside build/hookd), only when
missing, under a lock since ctest runs a test on both backends at once. Node.js 20 and npm
are not Debian packages here: without them the tests fail with a message saying so.
"""
import fcntl
import json
import os
import shutil
import subprocess

import harness

PACKAGES = ["standardwebhooks@1.1.1", "@octokit/webhooks-methods", "stripe"]
MODULES = ["standardwebhooks", "@octokit/webhooks-methods", "stripe"]
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(harness.HOOKD)), "node-test")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "providers.mjs")


def setup():
    """Makes sure node, npm and the three packages are there; raises with the reason."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise RuntimeError("the provider tests need Node.js 20 and npm on the PATH "
                           "(node: %s, npm: %s); install them (https://nodejs.org)"
                           % (node or "missing", npm or "missing"))
    os.makedirs(NODE_DIR, exist_ok=True)
    with open(os.path.join(NODE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [m for m in MODULES if not os.path.exists(
            os.path.join(NODE_DIR, "node_modules", m, "package.json"))]
        if missing:
            p = subprocess.run([npm, "install", "--no-audit", "--no-fund"] + PACKAGES,
                               cwd=NODE_DIR, capture_output=True, timeout=600)
            if p.returncode != 0:
                raise RuntimeError("npm install %s failed:\n%s" % (
                    " ".join(PACKAGES), p.stderr.decode(errors="replace")[-4000:]))
        # ESM resolves packages from the script's own folder: run a copy placed there.
        shutil.copyfile(SCRIPT, os.path.join(NODE_DIR, "providers.mjs"))


def run(ops):
    """Runs the operations (see providers.mjs) in one node process; returns the results."""
    p = subprocess.run(["node", os.path.join(NODE_DIR, "providers.mjs")],
                       input=json.dumps(ops).encode(), capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("node providers.mjs failed:\n%s" % p.stderr.decode(errors="replace"))
    return json.loads(p.stdout)


def one(op, **fields):
    """One operation's result."""
    fields["op"] = op
    return run([fields])[0]
