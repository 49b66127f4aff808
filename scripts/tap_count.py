#!/usr/bin/env python3
"""tap_count.py - count individual test cases from a meson test log.

Usage: tap_count.py LABEL BUILD_DIR
Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per line, one per
meson test). For TAP tests each "ok"/"not ok" line is a case; a test program
that failed without reporting a failing case (a crash, a sanitizer report
at exit, a timeout) counts as one more failure, so nothing is hidden.
Prints failing cases, then a final line "P F" for the caller to add up.
"""
import json
import re
import sys

label, build = sys.argv[1], sys.argv[2]
passed = failed = 0
case_re = re.compile(r'^(not ok|ok)\b\s*\d*\s*-?\s*(.*)$')

with open(f'{build}/meson-logs/testlog.json') as log:
    for line in log:
        t = json.loads(line)
        name, result = t['name'], t['result']
        out = t.get('stdout') or ''
        p = f = 0
        for row in out.splitlines():
            m = case_re.match(row.strip())
            if not m:
                continue
            directive = m.group(2)
            if '# SKIP' in directive.upper():
                continue
            if m.group(1) == 'ok':
                p += 1
            else:
                f += 1
                print(f'FAIL [{label}] {name}: {directive}')
        if p + f == 0:
            # Not a TAP program (or it printed nothing): the exit code decides.
            if result in ('OK', 'EXPECTEDFAIL'):
                p = 1
            elif result != 'SKIP':
                f = 1
                print(f'FAIL [{label}] {name}: {result}')
        elif result not in ('OK', 'EXPECTEDFAIL', 'SKIP') and f == 0:
            f = 1
            print(f'FAIL [{label}] {name}: exited {result} after its cases passed '
                  '(crash, sanitizer report or timeout; see the log)')
        passed += p
        failed += f
print(passed, failed)
