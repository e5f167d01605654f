#!/usr/bin/env python3
"""Counts test cases in a meson testlog.json and prints 'N passed, N failed'.

A TAP test program counts once per 'ok'/'not ok' line; any other test counts
once, by its result. A TAP program that failed without reporting a failing
case (it crashed, say) counts one failure more.
"""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        t = json.loads(line)
        result = t.get("result", "")
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        skips = len(re.findall(r"^ok \d+.*# *SKIP", out, re.M | re.I))
        bads = len(re.findall(r"^not ok \d+", out, re.M))
        if oks or bads:
            passed += oks - skips
            skipped += skips
            failed += bads
            if result not in ("OK", "EXPECTEDFAIL", "SKIP") and bads == 0:
                failed += 1
        elif result == "OK":
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
