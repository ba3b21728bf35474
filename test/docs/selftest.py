#!/usr/bin/env python3
"""Checks run_doc_examples.py itself on small Markdown files: that it passes what it should and
fails (or refuses) what it should. Needs the same cluster (PGHOST/PGPORT/PGUSER, a superuser)."""

import concurrent.futures
import os
import subprocess
import sys
import tempfile

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_doc_examples.py")
F = "```"

CASES = [
    # name, markdown, expected exit status, texts the output must hold
    ("passes", f"""
<!-- doctest: setup
CREATE TABLE t(a int);
-->
{F}sql
INSERT INTO t VALUES (1), (2);
DO $$ BEGIN RAISE NOTICE 'progress'; END $$;
SELECT count(*) AS n, now() AS at FROM t;
SET application_name = 'doctest-session';
{F}

{F}output
 n | …
---+…
 2 | …
(1 row)
{F}

{F}sql
SELECT current_setting('application_name') AS app;  -- the SET above: one session
SELECT 1/0;
{F}

{F}output
       app
-----------------
 doctest-session
(1 row)

ERROR:  division by zero
{F}

<!-- doctest: skip (shows a fragment) -->
{F}sql
SELECT … FROM nowhere;
{F}

<!-- doctest: cleanup
DROP ROLE IF EXISTS doctest_selftest_role;
-->
{F}sh
psql -XAtc 'CREATE ROLE doctest_selftest_role' >/dev/null
psql -XAtc "SELECT current_database() LIKE 'doctest_%'"
{F}

{F}output
t
{F}
""", 0, ["doc examples: 3 run (3 with checked output), 1 skipped, 1 setup marks, 0 failed",
         "skip passes.md:34: shows a fragment"]),
    ("unmarked_error", f"""
{F}sql
SELECT no_such_function();
{F}
""", 1, ["ERROR:  function no_such_function() does not exist", "1 failed"]),
    ("output_differs", f"""
{F}sql
SELECT 41 AS answer;
{F}

{F}output
 answer
--------
     42
(1 row)
{F}
""", 1, ["output differs", "     41", "1 failed"]),
    ("error_not_shown", f"""
{F}sql
SELECT 1 AS one;
SELECT 1/0;
{F}

{F}output
 one
-----
   1
(1 row)
{F}
""", 1, ["output differs", "ERROR:  division by zero"]),
    ("failing_setup", f"""
<!-- doctest: setup
CREATE TABLE nowhere.t(a int);
-->
""", 1, ["(setup mark)", 'schema "nowhere" does not exist']),
    ("unterminated", f"""
{F}sql
SELECT 1
{F}

{F}sql
SELECT 2;
{F}
""", 1, ["has no ';'"]),
    ("failing_shell", f"""
{F}sh
false
{F}
""", 1, ["exit status 1"]),
    ("unsafe_shell", f"""
{F}sh
scripts/test.sh
{F}
""", 2, ["must be marked <!-- doctest: skip (reason) -->"]),
    ("skip_without_reason", f"""
<!-- doctest: skip -->
{F}sql
SELECT 1;
{F}
""", 2, ["write a skip mark as"]),
    ("stray_skip", f"""
<!-- doctest: skip (nothing follows) -->

Some prose.
""", 2, ["skip mark not followed by a sql or sh example"]),
    ("stray_output", f"""
Prose.

{F}output
 x
{F}
""", 2, ["an output fence must follow a sql or sh example"]),
]


def run_case(tmp, name, text):
    path = os.path.join(tmp, name + ".md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return subprocess.run([sys.executable, RUNNER, path], cwd=tmp, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            runs = [pool.submit(run_case, tmp, name, text) for name, text, _, _ in CASES]
            for (name, _, status, needles), run in zip(CASES, runs):
                p = run.result()
                missing = [n for n in needles if n not in p.stdout]
                if p.returncode != status or missing:
                    failures += 1
                    print(f"not ok {name}: exit {p.returncode} (want {status}); missing {missing}\n{p.stdout}")
                else:
                    print(f"ok {name}")
    print(f"doc runner self-test: {len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
