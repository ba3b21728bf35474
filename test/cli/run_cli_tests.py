#!/usr/bin/env python3
"""Integration tests of the installed `stopgap` CLI against a running cluster (issue 16).

Usage: test/cli/run_cli_tests.py [-v] [-k SUBSTRING ...]
  -v            print every command run, with its exit code and output
  -k SUBSTRING  run only the tests whose name contains SUBSTRING (repeatable)

Runs `$(pg_config --bindir)/stopgap` (or $STOPGAP_BIN) as a user would: in a fresh temporary
project directory per test, against a fresh database per test (CREATE EXTENSION stopgap CASCADE),
connecting through the usual PGHOST/PGPORT/PGUSER (a superuser: the tests create databases and
roles). Prints one line per test ("ok NAME", "not ok NAME" with the reason below it) and a summary;
exits 1 if any test failed.

npm packages (zod, date-fns, es-toolkit, ms, nanoid, pg) are installed once, at pinned versions, into
$CLI_NPM_CACHE (default $BUILD_DIR/cli-npm-cache, BUILD_DIR defaulting to build/) and reused while
the pinned list is unchanged; a test project links them into its node_modules/. The node-postgres
test imports @stopgap/runtime/client from runtime-js/ (built by `npm test` there, or here with
`node build.mjs` when dist/ lacks it).

A check that fails because of a known, reported bug can be marked with known_bug(...): it then
prints "known bug: ..." and does not fail the run. Every such mark is listed in the summary.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build")
NPM_CACHE = os.environ.get("CLI_NPM_CACHE") or os.path.join(BUILD_DIR, "cli-npm-cache")
# Pinned: the tests assert these packages' behaviour (zod 4's core.js <-> util.js import cycle,
# es-toolkit's nested "import" conditions, nanoid 5's `import ... from "node:crypto"`).
NPM_PACKAGES = ["zod@4.6.7", "date-fns@4.4.0", "es-toolkit@1.53.2", "ms@2.1.3", "nanoid@5.1.12",
                "pg@8.23.1"]
RUNTIME_JS = os.path.join(ROOT, "runtime-js")
LAYOUT_ERROR = "not a stopgap project (no stopgap/ directory): run stopgap init"

VERBOSE = False


def pg_bindir():
    pg_config = os.environ.get("PG_CONFIG", "pg_config")
    return subprocess.run([pg_config, "--bindir"], stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()


STOPGAP = os.environ.get("STOPGAP_BIN") or os.path.join(pg_bindir(), "stopgap")


class Fail(Exception):
    pass


KNOWN_BUGS = []  # (test, description) of every known_bug check that failed as expected


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(actual, expected, what):
    if actual != expected:
        raise Fail(f"{what}: expected {expected!r}, got {actual!r}")


def has(text, part, what):
    if part not in text:
        raise Fail(f"{what}: expected {part!r} in:\n{text}")


def admin(sql, db="postgres"):
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        raise Fail(f"psql failed: {sql}\n{p.stderr}")
    return p.stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Result:
    def __init__(self, argv, code, out, err):
        self.argv, self.code, self.out, self.err = argv, code, out, err

    def __str__(self):
        return (f"$ stopgap {' '.join(self.argv)}\nexit {self.code}\n--- stdout\n{self.out}"
                f"--- stderr\n{self.err}")

    def doc(self):
        """stdout as exactly one JSON document on one line."""
        lines = [l for l in self.out.split("\n") if l != ""]
        if len(lines) != 1:
            raise Fail(f"expected one JSON line on stdout\n{self}")
        try:
            return json.loads(lines[0])
        except ValueError as e:
            raise Fail(f"stdout is not JSON ({e})\n{self}")


class Scenario:
    """One test's world: a temporary project directory and, on first use, a fresh database."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"stopgap-cli-{name}-")
        self.db = None
        self.roles = []

    def database(self):
        if self.db is None:
            db = f"cli_{self.name}_{os.getpid()}"
            admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin(f'CREATE DATABASE "{db}"')
            self.db = db
            admin("CREATE EXTENSION stopgap CASCADE", db)
        return self.db

    def role(self, suffix):
        """A LOGIN role without stopgap_deployer, dropped at the end."""
        name = f"cli_{self.name}_{suffix}_{os.getpid()}"
        admin(f'DROP ROLE IF EXISTS "{name}"')
        admin(f'CREATE ROLE "{name}" LOGIN')
        self.roles.append(name)
        return name

    def env(self, extra=None):
        env = dict(os.environ)
        env.pop("STOPGAP_DB", None)
        if self.db is not None:
            env["PGDATABASE"] = self.db
        env.update(extra or {})
        return env

    def cli(self, *argv, expect=0, cwd=None, env=None, timeout=300):
        argv = list(argv)
        p = subprocess.run([STOPGAP] + argv, cwd=cwd or self.dir, env=self.env(env),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        r = Result(argv, p.returncode, p.stdout, p.stderr)
        if VERBOSE:
            print(str(r))
        if expect is not None and r.code != expect:
            raise Fail(f"expected exit {expect}\n{r}")
        return r

    def json(self, *argv, expect=0, **kw):
        return self.cli("--output", "json", *argv, expect=expect, **kw).doc()

    def sql(self, query):
        return admin(query, self.database())

    def write(self, rel, text):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def read(self, rel):
        with open(os.path.join(self.dir, rel), encoding="utf-8") as f:
            return f.read()

    def close(self):
        if self.db is not None:
            admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        for r in self.roles:
            admin(f'DROP ROLE IF EXISTS "{r}"')
        shutil.rmtree(self.dir, ignore_errors=True)

    # Catalog look-ups of the default environment (prod).
    def active_id(self, env="prod"):
        v = self.sql(f"SELECT active_deployment_id FROM stopgap.environment WHERE env = '{env}'")
        return int(v) if v else None

    def deployment_count(self):
        return int(self.sql("SELECT count(*) FROM stopgap.deployment"))

    def sql_json(self, query):
        return json.loads(self.sql(query))


_current = None


def known_bug(description, fn):
    """Runs the check fn; if it fails, records the known (reported) bug instead of failing."""
    try:
        fn()
    except Fail as e:
        KNOWN_BUGS.append((_current, description))
        print(f"  known bug: {description}\n    " + str(e).replace("\n", "\n    "))
        return
    print(f"  note: the known bug \"{description}\" did not show: remove its known_bug mark")


# ---------------------------------------------------------------------------------------------
# Modules of the test projects.

PROFILE_V = """\
import {{ query, mutation, v }} from "@stopgap/runtime";
import {{ greet }} from "../lib/greet";

// api.users.profile.get
export const get = query(v.object({{ id: v.int() }}), async ({{ id }}, ctx) => {{
  const [row] = await ctx.db.query("select $1::int * 10 as score", [id]);
  return {{ id, name: greet("user" + id), score: row.score as number, version: {version} }};
}});

// api.users.profile.rename: writes, so a mutation
export const rename = mutation(v.object({{ name: v.string() }}), async ({{ name }}, ctx) => {{
  await ctx.db.exec("insert into public.renames(name) values ($1)", [name]);
  return {{ renamed: name }};
}});

// Not a stopgap function: no query(...)/mutation(...) wrapper.
export const helper = 42;
"""

GREET = """\
// A plain module, imported relatively by users/profile.ts.
export function greet(name: string): string {
  return `hello ${name}`;
}
"""


def profile(version):
    return PROFILE_V.format(version=version)


def expected_get(i, version):
    return {"id": i, "name": f"hello user{i}", "score": 10 * i, "version": version}


def workflow_project(s):
    s.cli("init")
    s.write("stopgap/users/profile.ts", profile(1))
    s.write("stopgap/lib/greet.ts", GREET)
    s.sql("CREATE TABLE public.renames(name text)")


# ---------------------------------------------------------------------------------------------
# Tests that need no server (init, layout, usage, connection failures).

def test_init(s):
    r = s.cli("init")
    for line in ("created stopgap/", "created stopgap/example.ts", "created stopgap/tsconfig.json"):
        check(line in r.out.split("\n"), f"init prints {line!r}\n{r}")
    has(r.out, "note: no package.json here", "init without package.json")
    for f in ("stopgap/example.ts", "stopgap/tsconfig.json"):
        check(os.path.isfile(os.path.join(s.dir, f)), f"init creates {f}")
    tsconfig = json.loads(s.read("stopgap/tsconfig.json"))
    eq(tsconfig["compilerOptions"].get("types"), ["@stopgap/runtime"], "tsconfig types")
    has(s.read("stopgap/example.ts"), '"@stopgap/runtime"', "the example module imports the runtime")
    before = {f: s.read(f) for f in ("stopgap/example.ts", "stopgap/tsconfig.json")}
    s.write("stopgap/example.ts", before["stopgap/example.ts"] + "// edited by the user\n")

    r = s.cli("init")
    has(r.out, "already a stopgap project: nothing changed", "second init")
    check("created" not in r.out, f"second init creates nothing\n{r}")
    has(s.read("stopgap/example.ts"), "// edited by the user", "second init keeps the user's file")

    # JSON, in a directory with a package.json: the runtime goes into devDependencies once.
    app = os.path.join(s.dir, "app")
    os.mkdir(app)
    with open(os.path.join(app, "package.json"), "w") as f:
        f.write('{"name": "app", "version": "1.0.0"}\n')
    d = s.json("init", cwd=app)
    eq(d, {"created": ["stopgap/", "stopgap/example.ts", "stopgap/tsconfig.json"],
           "package_json": "added", "changed": True}, "init --output json")
    pkg = json.load(open(os.path.join(app, "package.json")))
    check("@stopgap/runtime" in pkg.get("devDependencies", {}), f"package.json devDependencies: {pkg}")
    eq(pkg["name"], "app", "package.json keeps its fields")
    d = s.json("init", cwd=app)
    eq(d, {"created": [], "package_json": "present", "changed": False}, "second init --output json")


def test_layout_error(s):
    for cmd in (["deploy"], ["diff"], ["deploy", "--dry-run"]):
        r = s.cli(*cmd, expect=6)
        eq(r.err, f"stopgap: {LAYOUT_ERROR}\n", f"stderr of {cmd}")
    d = s.json("deploy", expect=6)
    eq(d, {"error": {"message": LAYOUT_ERROR, "exit_code": 6}}, "deploy --output json outside a project")
    # A stopgap *file* is not a project either; nothing was created by the failed commands.
    s.write("stopgap", "not a directory\n")
    r = s.cli("deploy", expect=6)
    has(r.err, LAYOUT_ERROR, "a stopgap file is not a project")
    eq(sorted(os.listdir(s.dir)), ["stopgap"], "files after failed commands")


def test_usage_errors(s):
    cases = [
        (["frobnicate"], 'unknown command "frobnicate"'),
        ([], "no command given"),
        (["deploy", "--steps", "2"], "deploy does not take --steps"),
        (["rollback", "--steps", "0"], "--steps needs a positive integer"),
        (["rollback", "--steps", "1", "--to", "3"], "--steps and --to exclude each other"),
        (["call"], "call needs a function path"),
        (["call", "api.x.y", "{not json"], "json-args is not valid JSON"),
        (["--output", "xml", "status"], "--output must be human or json"),
        (["status", "--env"], "--env needs a value"),
        (["deploy", "--force=yes"], "--force takes no value"),
        (["status", "extra"], 'unexpected argument "extra"'),
        (["deploy", "--prune", "--from-schema", "app"], "--prune does not apply to --from-schema"),
    ]
    for argv, message in cases:
        r = s.cli(*argv, expect=2)
        has(r.err, f"stopgap: {message}", f"usage error of {argv}")
        has(r.err, "usage: stopgap", f"usage error of {argv} shows the usage")
    r = s.cli("--help")
    for cmd in ("init", "deploy", "rollback", "status", "deployments", "diff", "call"):
        check(re.search(rf"^  {cmd}\s", r.out, re.M), f"--help lists {cmd}\n{r}")
    for cmd in ("init", "deploy", "rollback", "status", "deployments", "diff", "call"):
        r = s.cli(cmd, "--help")
        check(r.out.startswith(f"usage: stopgap {cmd}"), f"{cmd} --help\n{r}")


def test_connection_failure(s):
    host = os.environ.get("PGHOST", "/tmp")
    port = str(free_port())  # nothing listens there
    r = s.cli("--db", f"host={host} port={port} dbname=postgres connect_timeout=5", "status", expect=3)
    check(r.err.startswith("stopgap: cannot connect to the database: "), f"connection failure\n{r}")
    eq(r.out, "", "stdout of a human-output connection failure")
    d = s.json("--db", f"postgresql:///postgres?host={host}&port={port}", "deployments", expect=3)
    eq(d["error"]["exit_code"], 3, "exit_code in the JSON error")
    check(d["error"]["message"].startswith("cannot connect to the database: "), f"JSON error: {d}")
    # libpq's PG* variables, no --db; and STOPGAP_DB.
    s.cli("call", "api.x.y", expect=3, env={"PGPORT": port})
    s.cli("status", expect=3, env={"STOPGAP_DB": f"host={host} port={port}"})
    # A database that does not exist is a connection failure too.
    r = s.cli("status", expect=3, env={"PGDATABASE": f"no_such_db_{os.getpid()}"})
    has(r.err, "does not exist", "missing database")


def test_decoding_failure(s):
    # A server that answers with what this CLI does not understand (here a database whose
    # stopgap.status and stopgap.deployments are impostors, as with a CLI and an extension of
    # different releases): exit 7.
    db = f"cli_{s.name}_{os.getpid()}"
    admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{db}"')
    s.db = db
    admin("CREATE SCHEMA stopgap", db)
    admin("CREATE FUNCTION stopgap.status(env text) RETURNS jsonb LANGUAGE sql RETURN '42'::jsonb", db)
    admin("CREATE FUNCTION stopgap.deployments(env text) RETURNS jsonb LANGUAGE sql RETURN '{\"x\": 1}'::jsonb", db)
    r = s.cli("status", expect=7)
    has(r.err, "status: expected an object", "status decoding failure")
    r = s.cli("deployments", expect=7)
    has(r.err, "deployments: expected an array", "deployments decoding failure")
    # (--output json passes the server's document through as it is)
    eq(s.json("deployments"), {"x": 1}, "JSON output is the server's document")


# ---------------------------------------------------------------------------------------------
# Deploy, call, change, redeploy, diff, dry run, rollback, status, deployments.

def test_workflow(s):
    s.database()
    workflow_project(s)
    eq(s.deployment_count(), 0, "deployments before the first deploy")

    # First deploy (human).
    r = s.cli("deploy", "--label", "first")
    m = re.match(r'^deployed to prod: deployment (\d+) "first"\n', r.out)
    check(m, f"first deploy's human output\n{r}")
    d1 = int(m.group(1))
    has(r.out, "3 added", "first deploy's summary")
    for path in ("api.users.profile.get", "api.users.profile.rename", "api.example.hello"):
        check(re.search(rf"^  \+ {re.escape(path)}$", r.out, re.M), f"first deploy lists + {path}\n{r}")
    check("helper" not in r.out and "greet" not in r.out, f"non-wrapped exports are not functions\n{r}")
    has(r.err, "sending 3 modules to the default environment", "deploy's progress line")
    eq(s.active_id(), d1, "active deployment after the first deploy")
    live = s.sql("SELECT live_schema FROM stopgap.environment WHERE env = 'prod'")
    eq(s.sql(f"SELECT to_regprocedure('{live}.users_profile_get(jsonb)') IS NOT NULL"), "t",
       "live function users_profile_get(jsonb)")
    eq(s.sql(f"SELECT to_regprocedure('{live}.lib_greet_greet(jsonb)') IS NULL"), "t",
       "no live function for a plain export")
    paths = s.sql(f"SELECT string_agg(path || ' ' || module || ' ' || export_name, ',' ORDER BY path) "
                  f"FROM stopgap.fn_version WHERE deployment_id = {d1}")
    eq(paths, "api.example.hello example.ts hello,api.users.profile.get users/profile.ts get,"
              "api.users.profile.rename users/profile.ts rename", "fn_version paths")

    # call, human and JSON; a mutation; from psql through call_fn and the live function.
    r = s.cli("call", "api.users.profile.get", '{"id": 2}')
    eq(json.loads(r.out), expected_get(2, 1), "call (human)")
    check(r.out.count("\n") > 1, f"human call output is pretty-printed\n{r}")
    eq(s.json("call", "api.users.profile.get", '{"id": 3}'), expected_get(3, 1), "call --output json")
    eq(s.json("call", "api.users.profile.rename", '{"name": "ada"}'), {"renamed": "ada"}, "mutation call")
    eq(s.sql("SELECT string_agg(name, ',') FROM public.renames"), "ada", "the mutation wrote")
    hello = s.json("call", "api.example.hello", '{"name": "cli"}')
    eq(hello, {"greeting": "Hello, cli!", "db_user": os.environ.get("PGUSER", "postgres")}, "example.hello")
    eq(s.sql_json("SELECT stopgap.call_fn('api.users.profile.get', '{\"id\": 4}')"), expected_get(4, 1),
       "stopgap.call_fn from psql")
    eq(s.sql_json(f"SELECT {live}.users_profile_get('{{\"id\": 5}}')"), expected_get(5, 1),
       "the live function called directly")
    eq(s.sql_json("SELECT stopgap.call_fn('api.users.profile.get', '{\"id\": 6}', 'prod')"),
       expected_get(6, 1), "stopgap.call_fn with env")
    s.write("stopgap/users/profile.ts", profile(2))

    # Changed module -> a new deployment (JSON report).
    d = s.json("deploy")
    d2 = d["deployment_id"]
    check(isinstance(d2, int) and d2 > d1, f"second deployment id: {d}")
    eq((d["env"], d["dry_run"], d["unchanged"], d["label"]), ("prod", False, False, None),
       "deploy report fields")
    eq((d.get("active_deployment"), d.get("previous_deployment")), (d2, d1),
       "active_deployment (after the deploy) and previous_deployment in the report")
    by_path = {f["path"]: f for f in d["functions"]}
    eq(sorted(by_path), ["api.example.hello", "api.users.profile.get", "api.users.profile.rename"],
       "functions in the report")
    g = by_path["api.users.profile.get"]
    eq((g["fn_name"], g["module"], g["export"], g["kind"], g["change"]),
       ("users_profile_get", "users/profile.ts", "get", "query", "changed"), "report of get")
    eq(by_path["api.users.profile.rename"]["kind"], "mutation", "kind of rename")
    eq(by_path["api.example.hello"]["change"], "unchanged", "example.hello unchanged")
    counts = {c: sum(1 for f in d["functions"] if f["change"] == c)
              for c in ("added", "changed", "removed", "unchanged")}
    eq(d["summary"], counts, "summary agrees with the functions")
    check(isinstance(d["modules"], int) and d["modules"] >= 3, f"modules count: {d}")
    eq(s.active_id(), d2, "active after the second deploy")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 2), "call after the change")

    # Unchanged: nothing to deploy (human and JSON), no deployment recorded.
    n = s.deployment_count()
    r = s.cli("deploy")
    eq(r.out.split("\n")[0], f"nothing to deploy: prod already runs this code (deployment {d2})",
       "unchanged deploy (human)")
    d = s.json("deploy")
    eq((d["unchanged"], d["deployment_id"], d["active_deployment"]), (True, None, d2), "unchanged deploy (JSON)")
    eq(d["summary"]["unchanged"], 3, "unchanged summary")
    eq(s.deployment_count(), n, "no deployment recorded when nothing changed")

    # --force records one anyway.
    r = s.cli("deploy", "--force", "--label", "forced")
    m = re.match(r'^deployed to prod: deployment (\d+) "forced"\n', r.out)
    check(m, f"forced deploy (human)\n{r}")
    d3 = int(m.group(1))
    check(d3 > d2, "forced deployment id grows")
    d = s.json("deploy", "--force")
    d4 = d["deployment_id"]
    check(isinstance(d4, int) and d4 > d3 and d["unchanged"] is False, f"forced deploy (JSON): {d}")
    eq(s.deployment_count(), n + 2, "forced deploys recorded")
    eq(s.active_id(), d4, "active after forced deploys")

    # An edit not yet deployed: diff and deploy --dry-run show it and change nothing.
    s.write("stopgap/users/profile.ts", profile(3))
    prosrc = s.sql(f"SELECT prosrc FROM pg_proc WHERE oid = '{live}.users_profile_get(jsonb)'::regprocedure")
    artifacts = s.sql("SELECT count(*) FROM plts.artifact")
    for argv in (["diff"], ["deploy", "--dry-run"]):
        r = s.cli(*argv)
        eq(r.out.split("\n")[0], "dry run for prod: nothing was changed", f"{argv} (human)")
        check(re.search(r"^  ~ api\.users\.profile\.get", r.out, re.M), f"{argv} shows the change\n{r}")
        check("api.example.hello" not in r.out, f"{argv} leaves unchanged functions out\n{r}")
        d = s.json(*argv)
        eq(d["dry_run"], True, f"{argv} (JSON) dry_run")
        eq({f["path"]: f["change"] for f in d["functions"]}["api.users.profile.get"], "changed",
           f"{argv} (JSON) change of get")
        check(d["summary"]["changed"] >= 1, f"{argv} summary: {d}")
    eq(s.deployment_count(), n + 2, "dry runs record no deployment")
    eq(s.active_id(), d4, "dry runs activate nothing")
    eq(s.sql(f"SELECT prosrc FROM pg_proc WHERE oid = '{live}.users_profile_get(jsonb)'::regprocedure"),
       prosrc, "dry runs leave the live function")
    eq(s.sql("SELECT count(*) FROM plts.artifact"), artifacts, "dry runs store no artifact")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 2), "call after dry runs")

    r = s.cli("deploy", "--label", "third")
    d5 = int(re.match(r"^deployed to prod: deployment (\d+)", r.out).group(1))
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 3), "call after the third version")

    # Rollback: --steps (human), --to (JSON); never forward; deploy again to go forward.
    r = s.cli("rollback", "--steps", "1")
    eq(r.out, f"rolled back the default environment: deployment {d4} is active\n", "rollback --steps 1")
    eq(s.active_id(), d4, "active after rollback --steps 1")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 2), "call after rollback")
    d = s.json("rollback", "--env", "prod", "--to", str(d1))
    eq(d, {"env": "prod", "deployment_id": d1}, "rollback --env prod --to (JSON)")
    eq(s.active_id(), d1, "active after rollback --to")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 1), "call after rollback --to")
    eq(s.sql_json(f"SELECT {live}.users_profile_get('{{\"id\": 1}}')"), expected_get(1, 1),
       "live function after rollback --to")
    r = s.cli("rollback", "--to", str(d5), expect=4)
    has(r.err, "SQLSTATE 55000", "rollback forward is refused")
    r = s.cli("rollback", "--steps", "1", expect=4)
    has(r.err, "past its first deployment", "rollback past the first deployment")
    d = s.json("rollback", "--to", "999999", expect=4)
    eq(d["error"]["exit_code"], 4, "rollback to a missing deployment (JSON)")
    eq(s.active_id(), d1, "failed rollbacks change nothing")
    r = s.cli("deploy", "--label", "latest")
    d6 = int(re.match(r"^deployed to prod: deployment (\d+)", r.out).group(1))
    check(d6 > d5, "a deploy after a rollback records a new deployment")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 3), "call after going forward")

    # status.
    r = s.cli("status")
    eq(r.out.split("\n")[0], f"environment prod (live schema {live})", "status line 1")
    check(re.search(rf'^active: deployment {d6} "latest", 3 functions, activated \S', r.out, re.M),
          f"status active line\n{r}")
    has(r.out, "drift: none", "status drift")
    has(r.out, "\n  api.users.profile.get\n", "status lists the functions by path")
    d = s.json("status")
    eq(d["paths"], ["api.example.hello", "api.users.profile.get", "api.users.profile.rename"], "status paths (JSON)")
    eq((d["env"], d["live_schema"], d["active_deployment"]["id"], d["active_deployment"]["label"],
        d["function_count"], d["drifted"]), ("prod", live, d6, "latest", 3, False), "status (JSON)")

    # deployments.
    total = s.deployment_count()
    r = s.cli("deployments")
    lines = r.out.rstrip("\n").split("\n")
    check(re.match(r"^\s+ID\s+STATUS\s+LABEL\s+FUNCTIONS\s+CREATED AT\s+CREATED BY$", lines[0]),
          f"deployments header\n{r}")
    eq(len(lines), total + 1, "deployments rows")
    active_rows = [l for l in lines[1:] if l.startswith("*")]
    eq(len(active_rows), 1, "one active row")
    check(re.match(rf"^\*\s+{d6}\s+\S+\s+latest\s+3\s", active_rows[0]), f"active row\n{r}")
    d = s.json("deployments")
    check(isinstance(d, list), f"deployments (JSON) is a list: {d}")
    eq([x["id"] for x in d], sorted((x["id"] for x in d), reverse=True), "deployments newest first")
    eq(len(d), total, "deployments (JSON) length")
    eq([x["id"] for x in d if x["is_active"]], [d6], "is_active")
    first = [x for x in d if x["id"] == d1][0]
    eq(first["label"], "first", "label of the first deployment")
    eq(len(first["functions"]), 3, "functions of the first deployment")
    eq(sorted(f.get("path") for f in first["functions"]),
       ["api.example.hello", "api.users.profile.get", "api.users.profile.rename"], "paths in deployments (JSON)")


def test_rollback_default_steps(s):
    s.database()
    workflow_project(s)
    first = s.json("deploy")["deployment_id"]
    s.write("stopgap/users/profile.ts", profile(2))
    second = s.json("deploy")["deployment_id"]
    eq(s.active_id(), second, "active before the rollback")
    # `stopgap rollback --help`: "N steps back (default 1)".
    r = s.cli("rollback", expect=None)
    eq((r.code, r.out), (0, f"rolled back the default environment: deployment {first} is active\n"),
       f"rollback without --steps or --to goes one step back\n{r}")
    eq(s.active_id(), first, "active after rollback")
    eq(s.json("call", "api.users.profile.get", '{"id": 1}'), expected_get(1, 1), "call after rollback")
    # one more step back is past the first deployment: refused (exit 4), nothing changes
    r = s.cli("rollback", expect=4)
    has(r.err, "past its first deployment", "rollback past the first deployment")
    eq(s.active_id(), first, "active after the refused rollback")


def test_prune(s):
    s.database()
    s.cli("init")
    mod = 'import { query, v } from "@stopgap/runtime";\n' \
          "export const a = query(v.object({}), async () => 1);\n"
    s.write("stopgap/m.ts", mod + "export const b = query(v.object({}), async () => 2);\n")
    s.cli("deploy")
    live = s.sql("SELECT live_schema FROM stopgap.environment WHERE env = 'prod'")

    def live_fns():
        return s.sql(f"SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc "
                     f"WHERE pronamespace = '{live}'::regnamespace")

    eq(live_fns(), "example_hello,m_a,m_b", "live functions")
    s.write("stopgap/m.ts", mod)
    d = s.json("deploy")
    eq({f["path"]: f["change"] for f in d["functions"]}.get("api.m.b"), "removed", "a removed export")
    eq(d["summary"]["removed"], 1, "summary of a removed export")
    eq(live_fns(), "example_hello,m_a,m_b", "without --prune the removed export's live function stays")
    s.cli("call", "api.m.b", expect=4)
    eq(s.json("status")["retained"], ["m_b(args jsonb)"], "status lists the retained function")
    s.write("stopgap/m.ts", mod.replace("=> 1", "=> 11"))
    s.cli("deploy", "--prune")
    eq(live_fns(), "example_hello,m_a", "deploy --prune drops it")
    eq(s.json("call", "api.m.a"), 11, "call after --prune")


def test_from_schema(s):
    s.database()
    s.sql("CREATE SCHEMA app; CREATE FUNCTION app.add(args jsonb) RETURNS jsonb LANGUAGE plts AS "
          "$$ export default (ctx) => ({ sum: ctx.args.a + ctx.args.b }) $$")
    # No stopgap/ needed: the code comes from the schema.
    r = s.cli("diff", "--from-schema", "app")
    eq(r.out, "1 added, 0 changed, 0 removed, 0 unchanged, 0 errors\n  + add\n", "diff --from-schema")
    d = s.json("diff", "--from-schema", "app")
    eq((d["from_schema"], d["summary"]["added"], d["errors"]), ("app", 1, []), "diff --from-schema (JSON)")
    r = s.cli("deploy", "--from-schema", "app", "--label", "legacy")
    m = re.match(r"^deployed app to the default environment: deployment (\d+)\n$", r.out)
    check(m, f"deploy --from-schema\n{r}")
    live = s.sql("SELECT live_schema FROM stopgap.environment WHERE env = 'prod'")
    eq(s.sql_json(f"SELECT {live}.add('{{\"a\": 1, \"b\": 2}}')"), {"sum": 3}, "the deployed function")
    d = s.json("deploy", "--from-schema", "app", "--force", "--env", "prod")
    eq(d, {"env": "prod", "deployment_id": int(m.group(1)) + 1}, "deploy --from-schema --force (JSON)")
    r = s.cli("deploy", "--from-schema", "app", "--dry-run")
    eq(r.out.split("\n")[0], "0 added, 0 changed, 0 removed, 1 unchanged, 0 errors", "--from-schema --dry-run")
    s.cli("deploy", "--from-schema", "nosuchschema", expect=4)


def test_module_cycle_and_stopgap_db(s):
    db = s.database()
    s.cli("init")
    # Project modules may import each other in a cycle (ES modules allow it).
    s.write("stopgap/cycle/a.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { bName } from "./b";\n'
            'export const aName = () => "a";\n'
            "export const both = query(v.object({}), async () => aName() + bName());\n")
    s.write("stopgap/cycle/b.ts", 'import { aName } from "./a.js";\n'
            'export const bName = () => "b";\n'
            'export const fromB = () => aName();\n')
    # STOPGAP_DB wins over libpq's PGDATABASE.
    env = {"STOPGAP_DB": f"dbname={db}", "PGDATABASE": f"no_such_db_{os.getpid()}"}
    d = s.json("deploy", env=env)
    eq([f["path"] for f in d["functions"] if f["change"] == "added"], ["api.cycle.a.both", "api.example.hello"],
       "functions of a cycle")
    eq(s.json("call", "api.cycle.a.both", env=env), "ab", "call across an import cycle")
    # --db wins over STOPGAP_DB.
    eq(s.json("--db", f"dbname={db}", "call", "api.cycle.a.both",
              env={"STOPGAP_DB": f"dbname=no_such_db_{os.getpid()}"}), "ab", "--db wins over STOPGAP_DB")


def test_query_is_read_only(s):
    s.database()
    s.cli("init")
    s.sql("CREATE TABLE public.t(x int)")
    s.write("stopgap/ro.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'export const sneaky = query(v.object({}), async (_a, ctx) => {\n'
            '  await (ctx.db as any).exec("insert into public.t values (1)");\n'
            '  return "wrote";\n});\n')
    s.cli("deploy")
    r = s.cli("call", "api.ro.sneaky", expect=4)
    has(r.err, "SQLSTATE 25006", "a write in a query fails read-only")
    eq(s.sql("SELECT count(*) FROM public.t"), "0", "nothing written")


def test_type_error(s):
    s.database()
    s.cli("init")
    s.write("stopgap/bad/math.ts", 'import { query, v } from "@stopgap/runtime";\n'
            "\n"
            'const x: number = "seven";\n'
            "export const sum = query(v.object({ a: v.int() }), async ({ a }) => a + x);\n")
    r = s.cli("deploy", expect=5)
    line = "stopgap/bad/math.ts:3:7: error TS2322: Type 'string' is not assignable to type 'number'."
    check(line in r.err.split("\n"), f"the diagnostic line {line!r}\n{r}")
    has(r.err, "SQLSTATE 42804", "type errors are 42804")
    d = s.json("deploy", expect=5)
    eq((d["error"]["sqlstate"], d["error"]["exit_code"]), ("42804", 5), "type error (JSON)")
    has(d["error"]["detail"], line, "detail (JSON)")
    eq(s.deployment_count(), 0, "nothing deployed")
    # diff and deploy --dry-run: the server reports the errors in the dry run's "errors".
    for argv in (["diff"], ["deploy", "--dry-run"]):
        d = s.json(*argv, expect=None)
        has(json.dumps(d), "stopgap/bad/math.ts:3:7: error TS2322", f"{argv} (JSON) carries the diagnostic")
        r = s.cli(*argv, expect=None)
        check(line in (r.out + r.err).split("\n"), f"{argv} prints the diagnostic\n{r}")
        eq(r.code, 5, f"exit code of {argv} with type errors\n{r}")
    # A wrong argument type across modules: the diagnostic names the importing module.
    s.write("stopgap/bad/math.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { twice } from "./util";\n'
            'export const sum = query(v.object({ a: v.int() }), async ({ a }) => twice(String(a)));\n')
    s.write("stopgap/bad/util.ts", "export const twice = (n: number): number => n * 2;\n")
    r = s.cli("deploy", expect=5)
    check(re.search(r"^stopgap/bad/math\.ts:3:\d+: error TS2345: ", r.err, re.M),
          f"cross-module type error\n{r}")
    s.write("stopgap/bad/math.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { twice } from "./util";\n'
            'export const sum = query(v.object({ a: v.int() }), async ({ a }) => twice(a));\n')
    s.cli("deploy")
    eq(s.json("call", "api.bad.math.sum", '{"a": 21}'), 42, "fixed module deploys and runs")


def test_unresolved_relative_import(s):
    s.database()
    s.cli("init")
    s.write("stopgap/a.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { nope } from "./missing";\n'
            "export const f = query(v.object({}), async () => nope);\n")
    # The server finds it (42883, exit 4); a missing npm package is found by the CLI (exit 6).
    r = s.cli("deploy", expect=4)
    has(r.err, 'stopgap/a.ts: import "./missing" names no file of the project', "the error names the import")
    has(r.err, "SQLSTATE 42883", "an unresolved import is 42883")
    eq(s.deployment_count(), 0, "nothing deployed")


def test_unknown_path(s):
    s.database()
    workflow_project(s)
    s.cli("deploy")
    r = s.cli("call", "api.users.profile.gte", '{"id": 1}', expect=4)
    has(r.err, "api.users.profile.get", "close matches of an unknown path")
    has(r.err, "SQLSTATE 42883", "unknown path is 42883")
    d = s.json("call", "api.users.profle.get", expect=4)
    eq((d["error"]["sqlstate"], d["error"]["exit_code"]), ("42883", 4), "unknown path (JSON)")
    check("api.users.profile.get" in json.dumps(d["error"]), f"close match in the JSON error: {d}")
    # Bad arguments: the argument schema refuses them.
    r = s.cli("call", "api.users.profile.get", '{"id": "one"}', expect=4)
    has(r.err, "error: ", "invalid arguments")


def test_permission_failure(s):
    db = s.database()
    workflow_project(s)
    s.cli("deploy")
    role = s.role("app")
    host, port = os.environ.get("PGHOST", "/tmp"), os.environ.get("PGPORT", "5432")
    as_role = ["--db", f"host={host} port={port} dbname={db} user={role}"]
    r = s.cli(*as_role, "deploy", expect=4)
    has(r.err, "SQLSTATE 42501", "deploy without stopgap_deployer")
    d = s.json(*as_role, "deploy", expect=4)
    eq((d["error"]["sqlstate"], d["error"]["exit_code"]), ("42501", 4), "deploy without stopgap_deployer (JSON)")
    s.cli(*as_role, "rollback", expect=4)
    eq(s.deployment_count(), 1, "the refused deploy recorded nothing")
    # Calling by path: a role that is not a member of app_user (stopgap's calling role) is refused.
    live = s.sql("SELECT live_schema FROM stopgap.environment WHERE env = 'prod'")
    call = [*as_role, "call", "api.users.profile.get", '{"id": 1}']
    r = s.cli(*call, expect=4)
    has(r.err, "SQLSTATE 42501", "call without app_user")
    s.sql(f'GRANT app_user TO "{role}"')
    eq(s.json(*call), expected_get(1, 1), "call as a member of app_user")
    # call_fn is SECURITY INVOKER: the caller's EXECUTE right on the live function is honoured.
    fn = f"{live}.users_profile_get(jsonb)"
    s.sql(f"REVOKE EXECUTE ON FUNCTION {fn} FROM app_user, PUBLIC")
    r = s.cli(*call, expect=4)
    has(r.err, "SQLSTATE 42501", "call without EXECUTE on the live function")
    s.sql(f"GRANT EXECUTE ON FUNCTION {fn} TO app_user")
    eq(s.json(*call), expected_get(1, 1), "call with EXECUTE again")
    # stopgap_deployer: the role may deploy then.
    s.sql(f'GRANT stopgap_deployer TO "{role}"')
    s.write("stopgap/users/profile.ts", profile(2))
    d = s.json(*as_role, "deploy")
    check(isinstance(d["deployment_id"], int), f"deploy as a stopgap_deployer: {d}")


def test_dev(s):
    r = s.cli("--help")
    check(re.search(r"^  dev\s", r.out, re.M),
          f"`stopgap dev` is not in this CLI (stopgap --help does not list it)\n{r}")
    s.database()
    workflow_project(s)
    out_path, err_path = os.path.join(s.dir, "dev.out"), os.path.join(s.dir, "dev.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen([STOPGAP, "dev", "--env", "dev"], cwd=s.dir, env=s.env(), stdout=out, stderr=err)
    try:
        def output():
            return open(out_path).read() + open(err_path).read()

        def wait_for(cond, what, timeout=60, touch=None):
            end = time.time() + timeout
            next_touch = time.time() + 5
            while time.time() < end:
                if p.poll() is not None:
                    raise Fail(f"stopgap dev exited ({p.returncode}) while waiting for {what}\n{output()}")
                if cond():
                    return
                if touch and time.time() > next_touch:  # an event lost before the watch started
                    touch()
                    next_touch = time.time() + 5
                time.sleep(0.2)
            raise Fail(f"timed out waiting for {what}\n{output()}")

        # dev deploys what is there when it starts (or, if it only watches, on the first save).
        def save(version, extra=""):
            s.write("stopgap/users/profile.ts", profile(version) + extra)

        n = [0]

        def resave(version):
            def f():
                n[0] += 1
                save(version, f"// touched {n[0]}\n")
            return f

        wait_for(lambda: s.active_id("dev") is not None, "the first deployment", touch=resave(1))
        first = s.active_id("dev")
        eq(s.json("call", "--env", "dev", "api.users.profile.get", '{"id": 1}')["version"], 1, "version under dev")
        save(2)
        wait_for(lambda: s.active_id("dev") not in (None, first), "a redeploy after a save", touch=resave(2))
        second = s.active_id("dev")
        eq(s.json("call", "--env", "dev", "api.users.profile.get", '{"id": 1}'), expected_get(1, 2), "call after a dev redeploy")
        wait_for(lambda: f"deployed to dev: deployment {second}" in output(), "dev printing the deployment id",
                 timeout=10)
        has(output(), "watching stopgap/", "dev says what it watches")
        # A type error is printed and dev keeps running; fixing it deploys again.
        s.write("stopgap/users/profile.ts", profile(3).replace("version: 3", 'version: 3 as string'))
        wait_for(lambda: re.search(r"^stopgap/users/profile\.ts:\d+:\d+: error TS\d+: ", output(), re.M),
                 "dev printing the type error")
        check(p.poll() is None, "dev keeps running after an error")
        eq(s.active_id("dev"), second, "a failed redeploy activates nothing")
        # A new subdirectory with a new module.
        s.write("stopgap/users/profile.ts", profile(3))
        s.write("stopgap/extra/deep/more.ts", 'import { query, v } from "@stopgap/runtime";\n'
                "export const ping = query(v.object({}), async () => \"pong\");\n")
        wait_for(lambda: s.sql("SELECT count(*) FROM stopgap.fn_version v JOIN stopgap.environment e "
                               "ON e.active_deployment_id = v.deployment_id "
                               "WHERE v.path = 'api.extra.deep.more.ping'") == "1",
                 "a module in a new subdirectory deployed")
        eq(s.json("call", "--env", "dev", "api.extra.deep.more.ping"), "pong", "call of the new module")
        eq(s.json("call", "--env", "dev", "api.users.profile.get", '{"id": 1}')["version"], 3, "version after the fix")
        p.send_signal(signal.SIGINT)
        try:
            code = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Fail(f"stopgap dev did not stop within 15 s of SIGINT\n{output()}")
        eq(code, 0, f"dev's exit code after SIGINT\n{output()}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_dev_json(s):
    """`stopgap --output json dev`: one JSON document per deploy on stdout; SIGTERM stops it (exit 0)."""
    s.database()
    workflow_project(s)
    out_path = os.path.join(s.dir, "dev.out")
    with open(out_path, "w") as out:
        p = subprocess.Popen([STOPGAP, "--output", "json", "dev", "--env", "dev"], cwd=s.dir, env=s.env(),
                             stdout=out, stderr=subprocess.DEVNULL)
    try:
        def docs():
            lines = [l for l in open(out_path).read().split("\n") if l]
            try:
                return [json.loads(l) for l in lines]
            except ValueError:
                raise Fail("dev --output json printed a line that is not JSON:\n" + "\n".join(lines))

        def wait_docs(n, what, touch=None):
            end, next_touch = time.time() + 60, time.time() + 5
            while time.time() < end:
                if p.poll() is not None:
                    raise Fail(f"dev exited ({p.returncode}) while waiting for {what}\n{docs()}")
                d = docs()
                if len(d) >= n:
                    return d
                if touch and time.time() > next_touch:
                    touch()
                    next_touch = time.time() + 5
                time.sleep(0.2)
            raise Fail(f"timed out waiting for {what}: {docs()}")

        first = wait_docs(1, "the first deploy's report",
                          touch=lambda: s.write("stopgap/lib/greet.ts", GREET + f"// {time.time()}\n"))[-1]
        check(isinstance(first.get("deployment_id"), int), f"first report: {first}")
        eq(s.active_id("dev"), first["deployment_id"], "dev's first deployment is active")
        n = len(docs())
        s.write("stopgap/users/profile.ts", profile(2))
        d = wait_docs(n + 1, "the redeploy's report",
                      touch=lambda: s.write("stopgap/users/profile.ts", profile(2) + f"// {time.time()}\n"))[-1]
        check(isinstance(d.get("deployment_id"), int) and d["deployment_id"] > first["deployment_id"],
              f"redeploy report: {d}")
        eq({f["path"]: f["change"] for f in d["functions"]}["api.users.profile.get"], "changed", "redeploy change")
        eq(s.json("call", "--env", "dev", "api.users.profile.get", '{"id": 1}'), expected_get(1, 2),
           "call after the redeploy")
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Fail("stopgap dev did not stop within 15 s of SIGTERM")
        eq(code, 0, "dev's exit code after SIGTERM")
        docs()  # every line JSON, also after the stop
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ---------------------------------------------------------------------------------------------
# npm packages.

def npm_cache():
    """NPM_CACHE/node_modules with the pinned packages, installed on first use."""
    stamp = os.path.join(NPM_CACHE, "installed.txt")
    want = " ".join(NPM_PACKAGES) + "\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return os.path.join(NPM_CACHE, "node_modules")
    os.makedirs(NPM_CACHE, exist_ok=True)
    with open(os.path.join(NPM_CACHE, "package.json"), "w") as f:
        f.write('{"name": "stopgap-cli-tests-npm", "private": true}\n')
    p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel=error"]
                       + NPM_PACKAGES, cwd=NPM_CACHE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=600)
    if p.returncode != 0:
        raise Fail(f"npm install {' '.join(NPM_PACKAGES)} failed in {NPM_CACHE}\n{p.stdout}")
    with open(stamp, "w") as f:
        f.write(want)
    return os.path.join(NPM_CACHE, "node_modules")


def link_node_modules(s, with_runtime=False):
    """project/node_modules: a link per cached package (and @stopgap/runtime -> runtime-js/)."""
    cache = npm_cache()
    nm = os.path.join(s.dir, "node_modules")
    os.makedirs(nm, exist_ok=True)
    for name in os.listdir(cache):
        if not name.startswith("."):
            os.symlink(os.path.join(cache, name), os.path.join(nm, name))
    if with_runtime:
        os.makedirs(os.path.join(nm, "@stopgap"), exist_ok=True)
        os.symlink(RUNTIME_JS, os.path.join(nm, "@stopgap", "runtime"))


PACKAGES_MODULE = """\
import { query, v } from "@stopgap/runtime";
import * as z from "zod/mini";
import { format } from "date-fns/format";
import { addDays } from "date-fns/addDays";
import { camelCase } from "es-toolkit/string";

const User = z.object({ name: z.string(), age: z.number() });

export const parseUser = query(v.object({ input: v.unknown() }), async ({ input }) => {
  const r = User.safeParse(input);
  return r.success ? { ok: true, user: r.data } : { ok: false, issues: r.error.issues.length };
});

export const day = query(v.object({ y: v.int(), m: v.int(), d: v.int(), plus: v.int() }),
  async ({ y, m, d, plus }) => format(addDays(new Date(y, m - 1, d), plus), "yyyy-MM-dd (EEE)"));

export const camel = query(v.object({ s: v.string() }), async ({ s }) => camelCase(s));
"""


def test_npm_packages(s):
    s.database()
    s.cli("init")
    link_node_modules(s)
    s.write("stopgap/pkgs.ts", PACKAGES_MODULE)
    r = s.cli("deploy")
    m = re.search(r"sending 2 modules and (\d+) npm files", r.err)
    check(m and int(m.group(1)) > 10, f"deploy sends the npm files\n{r}")
    d = s.json("deploy", "--force")
    check(isinstance(d["deployment_id"], int), f"forced redeploy: {d}")
    # zod/mini (zod 4's core.js <-> util.js import cycle).
    eq(s.json("call", "api.pkgs.parseUser", '{"input": {"name": "ada", "age": 36}}'),
       {"ok": True, "user": {"name": "ada", "age": 36}}, "zod/mini parse ok")
    eq(s.json("call", "api.pkgs.parseUser", '{"input": {"name": 1}}'), {"ok": False, "issues": 2},
       "zod/mini parse fails")
    # date-fns: a subpath and the package root.
    eq(s.json("call", "api.pkgs.day", '{"y": 2024, "m": 2, "d": 28, "plus": 1}'), "2024-02-29 (Thu)",
       "date-fns format/addDays")
    # es-toolkit/string: a subpath export with nested import/default conditions.
    eq(s.json("call", "api.pkgs.camel", '{"s": "hello big world"}'), "helloBigWorld", "es-toolkit camelCase")
    # The npm files are stored once: a second project deploy of the same files adds no artifact.
    keys = s.sql("SELECT count(*) FROM plts.artifact")
    s.cli("deploy", "--force")
    eq(s.sql("SELECT count(*) FROM plts.artifact"), keys, "npm files deduplicated by content")


def test_npm_commonjs_refused(s):
    s.cli("init")
    link_node_modules(s)
    s.write("stopgap/dur.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import ms from "ms";\n'
            'export const parse = query(v.object({ s: v.string() }), async ({ s }) => ms(s));\n')
    r = s.cli("deploy", expect=6)
    has(r.err, 'stopgap: stopgap/dur.ts: cannot import "ms": package "ms" is CommonJS', "CommonJS refused")
    d = s.json("deploy", expect=6)
    has(d["error"]["message"], 'package "ms" is CommonJS', "CommonJS refused (JSON)")


def test_npm_node_builtin_refused(s):
    s.cli("init")
    link_node_modules(s)
    s.write("stopgap/ids.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { nanoid } from "nanoid";\n'
            "export const id = query(v.object({}), async () => nanoid());\n")
    r = s.cli("deploy", expect=6)
    has(r.err, 'imports the Node built-in "node:crypto"', "a package importing node:crypto")
    has(r.err, "node_modules/nanoid/index.js", "the refusal names the file")
    # A project module importing a built-in directly.
    s.write("stopgap/ids.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { readFileSync } from "fs";\n'
            "export const id = query(v.object({}), async () => String(readFileSync));\n")
    r = s.cli("deploy", expect=6)
    has(r.err, 'imports the Node built-in "fs"', "a module importing fs")


def test_npm_not_installed(s):
    s.cli("init")
    s.write("stopgap/x.ts", 'import { query, v } from "@stopgap/runtime";\n'
            'import { z } from "zod";\n'
            "export const f = query(v.object({}), async () => typeof z);\n")
    r = s.cli("deploy", expect=6)
    has(r.err, 'package "zod" is not installed', "a package that is not installed")


PG_SCRIPT = """\
import pg from "pg";
import {{ call, fnRef }} from "@stopgap/runtime/client";

const api = {{ users: {{ profile: {{ get: fnRef("api.users.profile.get"), rename: fnRef("api.users.profile.rename") }} }} }};
const client = new pg.Client({{ database: {db!r} }});
await client.connect();
try {{
  const out = {{}};
  out.get = await call(client, api.users.profile.get, {{ id: 7 }});
  out.rename = await call(client, api.users.profile.rename, {{ name: "from-node" }});
  out.pool = await (async () => {{
    const pool = new pg.Pool({{ database: {db!r}, max: 1 }});
    try {{ return await call(pool, api.users.profile.get, {{ id: 8 }}, {{ env: "prod" }}); }}
    finally {{ await pool.end(); }}
  }})();
  try {{ await call(client, fnRef("api.users.profile.gte"), {{}}); out.unknown = "no error"; }}
  catch (e) {{ out.unknown = {{ code: e.code, hint: e.hint, mentions: [e.message, e.detail, e.hint].join(" ").includes("api.users.profile.get") }}; }}
  try {{ await call(client, api.users.profile.get, {{ id: "x" }}); out.bad = "no error"; }}
  catch (e) {{ out.bad = {{ code: e.code }}; }}
  console.log(JSON.stringify(out));
}} finally {{
  await client.end();
}}
"""


def test_node_postgres_call(s):
    client_js = os.path.join(RUNTIME_JS, "dist", "client.js")
    pkg = json.load(open(os.path.join(RUNTIME_JS, "package.json")))
    check("./client" in pkg.get("exports", {}),
          "@stopgap/runtime has no ./client export (runtime-js/package.json): the call() helper is missing")
    if not os.path.exists(client_js):
        p = subprocess.run(["node", "build.mjs"], cwd=RUNTIME_JS, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        check(p.returncode == 0 and os.path.exists(client_js), f"runtime-js build failed\n{p.stdout}")
    db = s.database()
    workflow_project(s)
    link_node_modules(s, with_runtime=True)
    s.cli("deploy")
    s.write("app.mjs", PG_SCRIPT.format(db=db))
    p = subprocess.run(["node", "app.mjs"], cwd=s.dir, env=s.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    check(p.returncode == 0, f"node app.mjs failed ({p.returncode})\n{p.stdout}\n{p.stderr}")
    out = json.loads(p.stdout.strip().split("\n")[-1])
    eq(out["get"], expected_get(7, 1), "call(client, api.users.profile.get)")
    eq(out["rename"], {"renamed": "from-node"}, "call of a mutation")
    eq(s.sql("SELECT string_agg(name, ',') FROM public.renames"), "from-node", "the mutation wrote")
    eq(out["pool"], expected_get(8, 1), "call through a pg.Pool with env")
    eq((out["unknown"]["code"], out["unknown"]["mentions"]), ("42883", True), "unknown path through node-postgres")
    eq(out["bad"]["code"], "22023", "invalid arguments through node-postgres")

    # The typed workflow: `stopgap types` writes api.ts; an app using it type-checks with tsc, a
    # wrong argument type does not; the compiled app runs.
    r = s.cli("--help")
    check(re.search(r"^  types\s", r.out, re.M), f"`stopgap types` is not in this CLI\n{r}")
    r = s.cli("types")
    eq(r.out, "wrote stopgap/_generated/api.ts (3 functions)\n", "types (human)")
    check(os.path.isfile(os.path.join(s.dir, "stopgap/_generated/api.ts")), "types writes stopgap/_generated/api.ts")
    d = s.json("types")
    eq((d["changed"], d["file"]), (False, "stopgap/_generated/api.ts"), "second types (JSON)")
    eq(sorted((f["path"], f["module"], f["export"], f["kind"]) for f in d["functions"]),
       [("api.example.hello", "example.ts", "hello", "query"),
        ("api.users.profile.get", "users/profile.ts", "get", "query"),
        ("api.users.profile.rename", "users/profile.ts", "rename", "mutation")], "types functions (JSON)")
    # api.ts is not a module of the project: a deploy leaves _generated/ out.
    r = s.cli("deploy")
    has(r.out, "nothing to deploy", "deploy after types")
    s.write("app/main.ts",
            'import pg from "pg";\n'
            'import { call } from "@stopgap/runtime/client";\n'
            'import { api } from "../stopgap/_generated/api.js";\n'
            f"const client = new pg.Client({{ database: {json.dumps(db)} }});\n"
            "await client.connect();\n"
            "const p = await call(client, api.users.profile.get, { id: 9 });\n"
            "const score: number = p.score;\n"
            "const name: string = p.name;\n"
            "// @ts-expect-error: id is a number\n"
            'if (process.env.NEVER) await call(client, api.users.profile.get, { id: "9" });\n'
            "// @ts-expect-error: no such function\n"
            "if (process.env.NEVER) await call(client, api.users.profile.nope, {});\n"
            "console.log(JSON.stringify({ score, name, version: p.version }));\n"
            "await client.end();\n")
    s.write("app/tsconfig.json", json.dumps({
        "compilerOptions": {"target": "ES2022", "module": "ES2022", "moduleResolution": "Bundler",
                            "lib": ["ES2022"], "strict": True, "skipLibCheck": True,
                            "outDir": "../build", "rootDir": "..", "types": []},
        "files": ["main.ts", "node.d.ts"]}))
    # No @types/node or @types/pg in the cache: the little the app uses is declared here.
    s.write("app/node.d.ts", 'declare const process: { env: Record<string, string | undefined> };\n'
            'declare const console: { log(...a: unknown[]): void };\n'
            'declare module "pg" {\n'
            "  class Client { constructor(o?: object); connect(): Promise<void>; end(): Promise<void>;\n"
            "    query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }>; }\n"
            "  const pg: { Client: typeof Client };\n  export default pg;\n}\n")
    s.write("app/package.json", '{"type": "module"}\n')
    s.write("package.json", '{"type": "module"}\n')
    tsc = os.path.join(RUNTIME_JS, "node_modules", "typescript", "bin", "tsc")
    p = subprocess.run(["node", tsc, "-p", "app"], cwd=s.dir, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    check(p.returncode == 0, f"tsc -p app failed\n{p.stdout}\n--- api.ts\n{s.read('stopgap/_generated/api.ts')}")
    p = subprocess.run(["node", "build/app/main.js"], cwd=s.dir, env=s.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    check(p.returncode == 0, f"the compiled app failed\n{p.stdout}\n{p.stderr}")
    eq(json.loads(p.stdout.strip()), {"score": 90, "name": "hello user9", "version": 1}, "typed call result")
    # Without the @ts-expect-error marks the wrong argument fails tsc (the marks are not vacuous).
    s.write("app/main.ts", s.read("app/main.ts").replace("// @ts-expect-error: id is a number\n", ""))
    p = subprocess.run(["node", tsc, "-p", "app"], cwd=s.dir, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    check(p.returncode != 0 and "main.ts(9," in p.stdout, f"tsc accepts a wrong argument type\n{p.stdout}")


TESTS = [
    test_init, test_layout_error, test_usage_errors, test_connection_failure, test_decoding_failure,
    test_workflow, test_rollback_default_steps, test_prune, test_from_schema,
    test_module_cycle_and_stopgap_db, test_query_is_read_only, test_type_error,
    test_unresolved_relative_import, test_unknown_path, test_permission_failure, test_dev, test_dev_json,
    test_npm_packages, test_npm_commonjs_refused, test_npm_node_builtin_refused, test_npm_not_installed,
    test_node_postgres_call,
]


def main(argv):
    global VERBOSE, _current
    filters = []
    i = 0
    while i < len(argv):
        if argv[i] == "-v":
            VERBOSE = True
        elif argv[i] == "-k" and i + 1 < len(argv):
            i += 1
            filters.append(argv[i])
        else:
            print(__doc__)
            return 2
        i += 1
    if not os.access(STOPGAP, os.X_OK):
        print(f"not ok setup: no stopgap binary at {STOPGAP} (build and install first)")
        return 1
    tests = [t for t in TESTS if not filters or any(f in t.__name__ for f in filters)]
    passed = failed = 0
    started = time.time()
    for t in tests:
        name = t.__name__[len("test_"):]
        _current = name
        s = Scenario(name)
        t0 = time.time()
        try:
            t(s)
            print(f"ok {name} ({time.time() - t0:.1f} s)")
            passed += 1
        except Fail as e:
            print(f"not ok {name}\n    " + str(e).replace("\n", "\n    "))
            failed += 1
        except Exception:
            print(f"not ok {name} (test error)\n    " + traceback.format_exc().replace("\n", "\n    "))
            failed += 1
        finally:
            try:
                s.close()
            except Exception as e:
                print(f"  cleanup of {name}: {e}")
        sys.stdout.flush()
    for test, bug in KNOWN_BUGS:
        print(f"known bug ({test}): {bug}")
    print(f"cli tests: {len(tests)} run, {passed} passed, {failed} failed, "
          f"{len(KNOWN_BUGS)} known bugs marked ({time.time() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
