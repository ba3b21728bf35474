#!/usr/bin/env python3
"""Runs every SQL and shell example of README.md and docs/*.md against a running cluster.

Usage: test/docs/run_doc_examples.py [-v] [FILE.md ...]   (default: README.md docs/*.md)
Connects with psql through the usual PGHOST/PGPORT/PGUSER; needs a superuser (the examples create
extensions and roles). Exits 1 if any example fails, 2 on a usage or Markdown-marking error.

What runs
  Fences tagged sql run in psql; fences tagged sh, bash or shell run in bash (-e -o pipefail) from
  the repository root with PGDATABASE set. Each Markdown file gets a fresh database
  (doctest_<file>_<pid>, dropped afterwards): its examples run in order in it, and consecutive SQL
  examples share one psql session (a SET in one is seen by the next), as a reader typing them into
  one psql would. A shell example ends that session; SQL after it starts a new one.

Marks (HTML comments, invisible on GitHub), placed right before a fence (only blank lines between):
  <!-- doctest: skip (reason) -->   the fence does not run; the reason is required and printed.
      Every example that cannot run (a fragment, an extension we do not have, a command that builds
      or starts clusters: scripts/demo.sh, scripts/test.sh, cluster_start, apt-get, ...) carries it.
  <!-- doctest: setup
  SQL
  -->                               hidden SQL that runs at this point of the file, in the same
      session (e.g. a table an example assumes); it must not fail.
  <!-- doctest: cleanup
  SQL
  -->                               SQL run after the file's database is dropped, in the postgres
      database, even when an example failed: for cluster-wide objects the file creates (roles), so
      the runner can run twice in a row and beside other suites.

Checked output
  A fence tagged output right after an example (only blank lines between) is what psql -q prints
  for it: the result tables of all its statements in psql's default aligned format (with the
  "(N rows)" footer), and the lines of any error it shows (`ERROR:  ...`, DETAIL, HINT), without
  psql's "psql:<stdin>:N: " prefix. Only that is compared: command tags (psql -q), NOTICE, WARNING,
  INFO and LOG lines with their DETAIL/HINT lines, and CONTEXT lines (SHOW_CONTEXT never) are left
  out, and trailing white space is ignored. In an output line, `…` matches any text (ids, hashes,
  times). An example with an output fence may fail only as that fence shows; an example without
  one fails on any ERROR. A shell example's output fence is its stdout and stderr.
"""

import concurrent.futures
import os
import re
import subprocess
import sys

RUNNABLE = {"sql": "sql", "sh": "sh", "bash": "sh", "shell": "sh"}
# Shell examples that would build, install or start clusters (or run the suite that runs this one).
UNSAFE_SH = re.compile(
    r"scripts/(demo|test|test-hardened|bootstrap|build-cassert-pg|fuzz)\.sh|bench/run\.sh"
    r"|cluster_start|standby_start|build_and_install|apt-get|cmake\b|pg_ctl|initdb")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)[^`]*$")
MARK = re.compile(r"^\s*<!--\s*doctest:\s*(\w[\w-]*)\s*(.*)$")
PSQL_PREFIX = re.compile(r"^psql:[^:]*:\d+: ")
MESSAGE = re.compile(r"^(ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|LOG|DEBUG\d?):  ")
FOLLOWER = re.compile(r"^(DETAIL|HINT|CONTEXT|LINE \d+|QUERY):  ?")


class Example:
    def __init__(self, path, line, kind, text):
        self.path, self.line, self.kind, self.text = path, line, kind, text
        self.skip = None      # reason
        self.expected = None  # text of the output fence
        self.hidden = False   # a setup mark's SQL

    def where(self):
        return f"{os.path.relpath(self.path)}:{self.line}"


def parse(path):
    """The file's examples (setup marks included, in order) and its cleanup SQL."""
    lines = open(path, encoding="utf-8").read().split("\n")
    items, cleanup, errors = [], [], []
    pending_skip = None  # (reason, line)
    last = None          # the runnable example an output fence may follow
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARK.match(line)
        if m:
            verb, rest = m.group(1), m.group(2)
            if verb == "skip":
                r = re.match(r"^\((.+)\)\s*-->\s*$", rest)
                if not r:
                    errors.append(f"{path}:{i + 1}: write a skip mark as <!-- doctest: skip (reason) -->")
                else:
                    pending_skip = (r.group(1), i + 1)
                i += 1
                continue
            if verb in ("setup", "cleanup"):
                body, j = [], i + 1
                if rest.strip():
                    errors.append(f"{path}:{i + 1}: the SQL of a {verb} mark starts on the next line")
                while j < len(lines) and lines[j].strip() != "-->":
                    body.append(lines[j])
                    j += 1
                if j == len(lines):
                    errors.append(f"{path}:{i + 1}: {verb} mark without a closing --> line")
                if verb == "setup":
                    ex = Example(path, i + 1, "sql", "\n".join(body))
                    ex.hidden = True
                    items.append(ex)
                else:
                    cleanup.append("\n".join(body))
                i = j + 1
                last = None
                continue
            errors.append(f"{path}:{i + 1}: unknown doctest mark '{verb}'")
            i += 1
            continue
        m = FENCE.match(line)
        if m:
            indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
            body, j = [], i + 1
            close = re.compile(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
            while j < len(lines) and not close.match(lines[j]):
                text = lines[j]
                body.append(text[len(indent):] if text.startswith(indent) else text.lstrip())
                j += 1
            text = "\n".join(body)
            if lang in RUNNABLE:
                ex = Example(path, i + 1, RUNNABLE[lang], text)
                if pending_skip:
                    ex.skip = pending_skip[0]
                    pending_skip = None
                items.append(ex)
                last = ex
            elif lang == "output":
                if last is None or last.expected is not None:
                    errors.append(f"{path}:{i + 1}: an output fence must follow a sql or sh example")
                else:
                    last.expected = text
                last = None
            else:
                last = None
            if pending_skip:
                errors.append(f"{path}:{pending_skip[1]}: skip mark not followed by a sql or sh example")
                pending_skip = None
            i = j + 1
            continue
        if line.strip():
            last = None
            if pending_skip:
                errors.append(f"{path}:{pending_skip[1]}: skip mark not followed by a sql or sh example")
                pending_skip = None
        i += 1
    return items, cleanup, errors


def psql(db, script, timeout=300):
    """Runs script in one psql session; its stdout and stderr interleaved as psql writes them."""
    cmd = ["psql", "-X", "-q", "-d", db, "-v", "ON_ERROR_STOP=0", "-v", "SHOW_CONTEXT=never", "-f", "-"]
    p = subprocess.run(cmd, input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout


def admin(sql):
    p = subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{sql}: {p.stdout.strip()}")


def visible(output):
    """What an output fence is compared with: results and error lines, no notices, no psql prefix."""
    out, in_notice = [], False
    for raw in output.split("\n"):
        line = PSQL_PREFIX.sub("", raw).rstrip()
        m = MESSAGE.match(line)
        if m:
            in_notice = m.group(1) not in ("ERROR", "FATAL", "PANIC")
            if in_notice:
                continue
        elif FOLLOWER.match(line):
            if in_notice or line.startswith("CONTEXT:"):
                continue
        else:
            in_notice = False
        out.append(line)
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected, actual):
    exp = [l.rstrip() for l in expected.split("\n")]
    while exp and not exp[0]:
        exp.pop(0)
    while exp and not exp[-1]:
        exp.pop()
    if len(exp) != len(actual):
        return False
    for e, a in zip(exp, actual):
        pattern = "^" + ".*".join(re.escape(part) for part in e.split("…")) + "$"
        if not re.match(pattern, a):
            return False
    return True


def errors_in(output):
    return [PSQL_PREFIX.sub("", l) for l in output.split("\n")
            if re.match(r"^(psql:[^:]*:\d+: )?(ERROR|FATAL|PANIC):", l)
            or "server closed the connection unexpectedly" in l]


def unterminated(sql):
    """True if the example's last statement lacks its semicolon (it would run with the next one)."""
    for line in reversed(sql.split("\n")):
        code = re.sub(r"\s--.*$|^--.*$", "", line).rstrip()
        if code:
            return not (code.endswith(";") or code.lstrip().startswith("\\"))
    return False


def judge(ex, output, status=0):
    """None if the example passed, else the reason."""
    if ex.expected is not None:
        actual = visible(output)
        if matches(ex.expected, actual):
            return None
        return ("output differs\n--- the docs show\n" + ex.expected.strip("\n")
                + "\n--- it printed\n" + "\n".join(actual))
    errs = errors_in(output)
    if errs:
        return "\n".join(errs) + ("\n--- output\n" + output.strip() if ex.kind == "sh" else "")
    if status != 0:
        return f"exit status {status}\n" + output.strip()
    return None


def run_file(path, items, verbose):
    stem = re.sub(r"[^a-z0-9]+", "_", os.path.splitext(os.path.basename(path))[0].lower())
    db = f"doctest_{stem}_{os.getpid()}"
    results = {}  # example -> None | failure text
    admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{db}"')
    env = dict(os.environ, PGDATABASE=db)
    nonce = os.urandom(6).hex()
    try:
        todo = [ex for ex in items if not ex.skip]
        k = 0
        while k < len(todo):
            if todo[k].kind == "sh":
                ex = todo[k]
                k += 1
                try:
                    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", ex.text], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       timeout=300)
                except subprocess.TimeoutExpired:
                    results[ex] = "timed out"
                    continue
                results[ex] = judge(ex, p.stdout, p.returncode)
                if verbose:
                    print(f"--- {ex.where()}\n{p.stdout}", end="")
                continue
            session = []
            while k < len(todo) and todo[k].kind == "sql":
                session.append(todo[k])
                k += 1
            script = []
            for n, ex in enumerate(session):
                if unterminated(ex.text):
                    results[ex] = "the example's last statement has no ';'"
                script.append(f"\\echo @@doctest-{nonce} {n}\n{ex.text}\n")
            script.append(f"\\echo @@doctest-{nonce} end\n")
            try:
                _, out = psql(db, "".join(script))
            except subprocess.TimeoutExpired:
                for ex in session:
                    results.setdefault(ex, "timed out (with the other examples of its psql session)")
                continue
            chunks, current = {}, None
            for line in out.split("\n"):
                m = re.match(rf"^@@doctest-{nonce} (\S+)$", line)
                if m:
                    current = m.group(1)
                    chunks[current] = []
                elif current is not None:
                    chunks[current].append(line)
            for n, ex in enumerate(session):
                if ex in results:
                    continue
                if str(n) not in chunks:
                    results[ex] = "not reached (psql ended early)\n" + out[-2000:]
                    continue
                text = "\n".join(chunks[str(n)])
                results[ex] = judge(ex, text)
                if verbose:
                    print(f"--- {ex.where()}\n{text}", end="\n")
    finally:
        admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return results


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def check_file(path, verbose):
    """Parses and runs one file: (items, results, cleanup failures) or raises UsageError."""
    items, cleanup, errors = parse(path)
    if errors:
        raise UsageError("\n".join(errors))
    for ex in items:
        if ex.kind == "sh" and not ex.skip and UNSAFE_SH.search(ex.text):
            raise UsageError(f"{ex.where()}: a shell example that builds, installs or starts clusters "
                             "must be marked <!-- doctest: skip (reason) -->")
    results, cleanup_failures = {}, []
    try:
        if any(not ex.skip for ex in items):
            results = run_file(path, items, verbose)
    finally:
        for sql in cleanup:
            try:
                admin(sql)
            except RuntimeError as e:
                cleanup_failures.append(f"FAIL {os.path.relpath(path)}: cleanup: {e}")
    return items, results, cleanup_failures


class UsageError(Exception):
    pass


def main(argv):
    verbose = "-v" in argv
    files = [a for a in argv if a != "-v"]
    if not files:
        docs = os.path.join(ROOT, "docs")
        files = [os.path.join(ROOT, "README.md")] + sorted(
            os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    # Files are independent (a database each): run them side by side, report in order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(check_file, path, verbose) for path in files]
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result())
            except UsageError as e:
                print(e)
                return 2
    ran = skipped = failed = checked = setups = 0
    for items, results, cleanup_failures in outcomes:
        for ex in items:
            if ex.skip:
                skipped += 1
                print(f"skip {ex.where()}: {ex.skip}")
                continue
            if ex.hidden:
                setups += 1
            else:
                ran += 1
                checked += ex.expected is not None
            if results.get(ex):
                failed += 1
                label = "setup mark" if ex.hidden else f"{ex.kind} example"
                print(f"FAIL {ex.where()} ({label})\n{ex.text}\n--- because\n{results[ex]}\n")
        for line in cleanup_failures:
            failed += 1
            print(line)
    print(f"doc examples: {ran} run ({checked} with checked output), {skipped} skipped, "
          f"{setups} setup marks, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
