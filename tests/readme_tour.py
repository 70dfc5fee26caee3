#!/usr/bin/env python3
"""Runs README.md's API tour against the demo brand, as a newcomer would type it.

The shell blocks preceded by `<!-- tour -->` are joined, in order, into one bash script run
from the repository root with `set -euo pipefail`: every curl uses -f, so any HTTP error
fails the tour. It needs the data directory `rulebox demo` leaves behind (`.ci/run` runs the
demo first). Every `curl` and `rulebox` command line of the README outside the tutorial
must be inside a tour block, so no example goes untested. The server the tour starts is
stopped at the end whatever happens.
"""
import os
import re
import signal
import subprocess
import sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(repo, "README.md"), encoding="utf-8").read()
blocks = re.findall(r"<!-- tour -->\n```sh\n(.*?)```", readme, re.S)
if not blocks:
    sys.exit("README.md has no tour blocks")

# Every command example must be exercised: either by the tour or by the tutorial.
tested = "".join(blocks) + "".join(re.findall(r"<!-- tutorial: \w+ ?[^ ]*? -->\n```\w*\n(.*?)```", readme, re.S))
quick_start = "rustup target add wasm32-wasip2 && cargo run -p rulebox -- demo"
for code in re.findall(r"```sh\n(.*?)```", readme, re.S):
    for line in code.splitlines():
        if re.search(r"\b(curl|rulebox)\b", line) and line not in tested and line != quick_start \
                and line.strip() != ".ci/run":
            sys.exit(f"README command not exercised by the tour or the tutorial: {line}")

script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(blocks)
for number, line in enumerate(script.splitlines(), 1):
    print(f"tour {number:3}: {line}")
process = subprocess.Popen(["bash", "-c", script], cwd=repo, start_new_session=True)
try:
    code = process.wait(timeout=900)
except subprocess.TimeoutExpired:
    code = "timeout (15 min)"
finally:
    # The server runs in the script's session: make sure nothing outlives the tour.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
if code != 0:
    log = os.path.join(repo, "rulebox-demo-data", "server.log")
    if os.path.exists(log):
        print("--- server log ---\n" + open(log, encoding="utf-8", errors="replace").read()[-20000:])
    sys.exit(f"the README tour failed: {code}")
print("tour: every README API example worked")
