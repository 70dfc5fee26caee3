#!/usr/bin/env python3
"""Follows README.md's "Write your first rule" in a scratch copy of the repository.

Code blocks preceded by `<!-- tutorial: write PATH -->` are written to PATH, by
`<!-- tutorial: append PATH -->` appended to it, and `<!-- tutorial: run -->` shell blocks
are run in order; any failing command fails the script. The scratch copy shares the
repository's target directory, so nothing is compiled twice.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(repo, "README.md"), encoding="utf-8").read()
steps = re.findall(r"<!-- tutorial: (\w+) ?([^ ]*?) -->\n```\w*\n(.*?)```", readme, re.S)
if not steps:
    sys.exit("README.md has no tutorial steps")

with tempfile.TemporaryDirectory() as scratch:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, check=True,
                           capture_output=True, text=True).stdout.split()
    for f in files:
        if os.path.exists(os.path.join(repo, f)):
            os.makedirs(os.path.join(scratch, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(repo, f), os.path.join(scratch, f))
    os.symlink(os.path.join(repo, "target"), os.path.join(scratch, "target"))
    for action, path, body in steps:
        if action in ("write", "append"):
            target = os.path.join(scratch, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "a" if action == "append" else "w", encoding="utf-8") as out:
                out.write(("\n" if action == "append" else "") + body)
            print(f"tutorial: {action} {path}")
        elif action == "run":
            for command in body.strip().splitlines():
                print(f"tutorial: $ {command}", flush=True)
                subprocess.run(command, shell=True, cwd=scratch, check=True)
        else:
            sys.exit(f"unknown tutorial step {action}")
print("tutorial: README steps all worked")
