#!/usr/bin/env python3
"""test_man.py - each program's man page against its --help, as TAP.

    test_man.py NAME=BINARY=PAGE ...

For each program: every option its --help lists (each line that starts,
after blanks, with "--word"; vio-perf's `--net --help` too) must be an item of its man page (a
.TP tag), and every item of the page must be an option the help lists
(--help itself aside), so that neither can drift from the other. The
page must also format without a warning (groff -man -ww). A failure names
the options and the page.
"""
import re
import shutil
import subprocess
import sys

# Programs with more than one help text.
MORE_HELP = {"vio-perf": [["--net", "--help"]]}
OPTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)")
LISTED = re.compile(r"^\s+(--[a-z0-9][a-z0-9-]*)", re.M)

results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in diag.rstrip().splitlines()[-25:]:
            print("# " + line)
    sys.stdout.flush()


def help_options(binary, name):
    opts, texts = set(), []
    for args in [["--help"]] + MORE_HELP.get(name, []):
        p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("%s %s: status %d\n%s" % (name, " ".join(args), p.returncode,
                                                          p.stderr))
        texts.append(p.stdout)
        opts |= set(LISTED.findall(p.stdout))
    return opts, "\n".join(texts)


def deroff(line):
    line = re.sub(r"\\f(\[[^]]*\]|.)", "", line)
    line = line.replace("\\-", "-").replace("\\e", "\\")
    return re.sub(r"^\.[A-Z]+\s*", "", line)


def page_items(page):
    """The options named by the page's .TP tags."""
    with open(page) as f:
        lines = f.read().splitlines()
    items = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            items |= set(OPTION.findall(deroff(lines[i + 1])))
    return items


def main():
    print("TAP version 13")
    groff = shutil.which("groff")
    for spec in sys.argv[1:]:
        name, binary, page = spec.split("=", 2)
        pagename = name + ".1"
        try:
            opts, text = help_options(binary, name)
            items = page_items(page)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            tap(False, "%s: fixture" % name, repr(e))
            continue
        missing = sorted(opts - items)
        tap(len(opts) > 0 and not missing,
            "%s lists every option of `%s --help` (%d)" % (pagename, name, len(opts)),
            "%s does not list %s, which `%s --help` lists (doc/man/%s.in; the daemons' shared "
            "options: doc/man/common-options.roff)"
            % (pagename, ", ".join(missing), name, pagename) if missing else text)
        extra = sorted(items - opts - {"--help"})
        tap(not extra, "%s lists no option that `%s --help` does not" % (pagename, name),
            "%s lists %s, which `%s --help` does not" % (pagename, ", ".join(extra), name))
        if not groff:
            tap(False, "%s formats without warnings: groff not found (Debian: groff-base, "
                "scripts/deps.sh)" % pagename)
            continue
        p = subprocess.run([groff, "-man", "-ww", "-z", page], capture_output=True, text=True)
        tap(p.returncode == 0 and not p.stderr.strip(),
            "%s formats without warnings (groff -man -ww)" % pagename, p.stderr)
    print("1..%d" % len(results))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
