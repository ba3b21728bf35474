-- A project deployed as files (issue 16): stopgap.deploy_project and stopgap.call_fn. The stopgap
-- CLI sends what this file writes by hand: {"modules": {file: source}, "resolve": {file: {bare: file}}}.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS stopgap CASCADE;
SELECT stopgap.create_environment('proj', 'proj_live');

-- users/profile.ts imports lib/util.ts, which imports lib/cyc.ts, which imports lib/util.ts again
-- (a cycle: ES modules allow them, and so do npm packages such as zod); items.ts writes.
CREATE TEMP TABLE project_v1 AS SELECT $${"modules": {
  "users/profile.ts": "import { query, v } from \"@stopgap/runtime\";\nimport { greet } from \"../lib/util\";\nexport const get = query(v.object({ id: v.int() }), async ({ id }) => ({ id, hello: greet(String(id)) }));\nexport const list = query(v.object({}), async (_a, ctx) => (await ctx.db.query(\"select n from proj_items order by n\")).map((r: any) => r.n));\nexport const notAFunction = 42;\n",
  "lib/util.ts": "import { suffix } from \"./cyc\";\nexport function greet(n: string): string { return 'hi ' + n + suffix(); }\nexport const mark = '!';\n",
  "lib/cyc.ts": "import { mark } from \"./util\";\nexport function suffix(): string { return mark; }\n",
  "items.ts": "import { mutation, v } from \"@stopgap/runtime\";\nexport const add = mutation(v.object({ n: v.int() }), async ({ n }, ctx) => { await ctx.db.exec('insert into proj_items values ($1)', [n]); return { added: n }; });\n",
  "sneaky.ts": "import { query, v } from \"@stopgap/runtime\";\nexport const write = query(v.object({}), async (_a, ctx) => { await (ctx.db as any).exec('insert into proj_items values (0)'); return 1; });\n"
}}$$::jsonb AS p;
CREATE TABLE proj_items (n int);
GRANT SELECT, INSERT ON proj_items TO app_user;

SELECT r->'deployment_id' IS NOT NULL AS deployed, r->'unchanged' AS unchanged, r->'summary' AS summary,
       jsonb_path_query_array(r, '$.functions[*] ? (@.change == "added").path') AS added
  FROM (SELECT stopgap.deploy_project('proj', p, 'v1') r FROM project_v1) x;

-- one live function per query/mutation export, (args jsonb) -> jsonb, named by module and export
SELECT p.oid::regprocedure AS live_function, pg_get_function_result(p.oid) AS result,
       obj_description(p.oid, 'pg_proc') AS path
  FROM pg_proc p WHERE p.pronamespace = 'proj_live'::regnamespace ORDER BY 1::text;
SELECT path, module, export_name, kind FROM stopgap.fn_version v
  JOIN stopgap.environment e ON e.active_deployment_id = v.deployment_id WHERE e.env = 'proj' ORDER BY path;
-- every module is recorded with what its imports resolved to
SELECT m.module, m.imports FROM stopgap.module_version m
  JOIN stopgap.environment e ON e.active_deployment_id = m.deployment_id WHERE e.env = 'proj' ORDER BY 1;

-- called by path, and directly
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 7}', 'proj');
SELECT proj_live.users_profile_get('{"id": 8}');
SELECT stopgap.call_fn('api.items.add', '{"n": 3}', 'proj');
SELECT stopgap.call_fn('api.users.profile.list', env => 'proj');
-- the function runs under the caller's search_path (proj_items above is unqualified)
-- bad arguments: the runtime's validation error
SELECT stopgap.call_fn('api.users.profile.get', '{"id": "x"}', 'proj');
-- a query(...) cannot write (its ctx.db has no exec in the types; at run time PostgreSQL refuses)
SELECT stopgap.call_fn('api.sneaky.write', '{}', 'proj');
-- an unknown path: 42883 with close matches
SELECT stopgap.call_fn('api.users.profile.gte', '{}', 'proj');
\echo :LAST_ERROR_SQLSTATE
SELECT stopgap.call_fn('api.users.get', '{}', 'proj');
SELECT stopgap.call_fn('api.users.profile.get', '{}', 'nope');
SELECT stopgap.call_fn(NULL, '{}', 'proj');
-- the caller's EXECUTE right on the live function decides
CREATE ROLE proj_outsider;
CREATE ROLE proj_app IN ROLE app_user;
GRANT USAGE ON SCHEMA proj_live TO proj_outsider, proj_app;
SET ROLE proj_outsider;
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 1}', 'proj');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE proj_app;
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 1}', 'proj');
RESET ROLE;
SELECT (stopgap.metrics()->'call'->>'calls')::int >= 9 AS calls_counted,
       (stopgap.metrics()->'call'->>'errors')::int >= 5 AS errors_counted;

-- the same project again: nothing to deploy, nothing recorded; force records it anyway
SELECT r->'deployment_id' AS deployment_id, r->'unchanged' AS unchanged, r->'summary' AS summary
  FROM (SELECT stopgap.deploy_project('proj', p) r FROM project_v1) x;
SELECT count(*) AS deployments FROM stopgap.deployment WHERE env = 'proj';
SELECT r->'deployment_id' IS NOT NULL AS deployed, r->'summary' AS summary
  FROM (SELECT stopgap.deploy_project('proj', p, 'forced', '{"force": true}') r FROM project_v1) x;

-- a change to a helper changes the functions that reach it (their import maps), and only those
CREATE TEMP TABLE project_v2 AS
  SELECT jsonb_set(p, '{modules,lib/cyc.ts}', to_jsonb('import { mark } from "./util";' || chr(10) ||
                   'export function suffix(): string { return mark + mark; }' || chr(10))) AS p FROM project_v1;
SELECT jsonb_path_query_array(r, '$.dry_run') AS dry_run, r->'deployment_id' AS deployment_id, r->'summary' AS summary,
       jsonb_path_query_array(r, '$.functions[*] ? (@.change == "changed")') AS changed, r->'errors' AS errors
  FROM (SELECT stopgap.deploy_project('proj', p, NULL, '{"dry_run": true}') r FROM project_v2) x;
SELECT count(*) AS deployments_after_dry_run FROM stopgap.deployment WHERE env = 'proj';
SELECT r->'summary' AS summary FROM (SELECT stopgap.deploy_project('proj', p, 'v2') r FROM project_v2) x;
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 7}', 'proj');
-- deployments and status show the paths
SELECT jsonb_path_query_array(stopgap.deployments('proj'), '$[0].functions[*].path') AS paths,
       stopgap.deployments('proj')->0->'modules' AS modules;
SELECT stopgap.status('proj')->'paths' AS paths;
-- rollback goes back to v1's code (v3 below deploys forward again)
SELECT stopgap.rollback('proj') > 0 AS rolled_back;
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 7}', 'proj');

-- an export removed: with prune, its live function goes
CREATE TEMP TABLE project_v3 AS SELECT p #- '{modules,sneaky.ts}' AS p FROM project_v2;
SELECT r->'summary' AS summary, r->'pruned' AS pruned
  FROM (SELECT stopgap.deploy_project('proj', p, 'v3', '{"prune": true}') r FROM project_v3) x;
SELECT count(*) AS sneaky_left FROM pg_proc WHERE proname = 'sneaky_write';

-- npm packages: bare imports resolve through "resolve" to files under node_modules/; two files
-- with the same text whose "./v.js" means different files each get their own
SELECT r->'summary' AS summary
  FROM stopgap.deploy_project('proj', $${"modules": {
  "pkgs.ts": "import { query, v } from \"@stopgap/runtime\";\nimport { a } from \"pa\";\nimport { b } from \"pb/sub\";\nexport const both = query(v.object({}), async () => [a, b]);\n",
  "node_modules/pa/index.js": "export { v as a } from \"./v.js\";\n",
  "node_modules/pa/v.js": "export const v = 'from pa';\n",
  "node_modules/pb/sub/index.js": "export { v as b } from \"./v.js\";\n",
  "node_modules/pb/sub/v.js": "export const v = 'from pb';\n"},
  "resolve": {"pkgs.ts": {"pa": "node_modules/pa/index.js", "pb/sub": "node_modules/pb/sub/index.js"}}}$$,
  'npm', '{"prune": true}') r;
SELECT stopgap.call_fn('api.pkgs.both', '{}', 'proj');
-- the catalog's invariants hold (live pointers name their exports, every module's artifact exists)
SELECT * FROM stopgap.check('proj');

-- what a deploy refuses, with nothing recorded: bad payloads (22023)
CREATE FUNCTION pg_temp.deploy_error(p jsonb, options jsonb DEFAULT '{}') RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text;
BEGIN
  PERFORM stopgap.deploy_project('proj', p, 'bad', options);
  RETURN 'deployed';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || msg || CASE WHEN det <> '' AND det <> msg THEN E'\n' || det ELSE '' END;
END
$$;
SELECT pg_temp.deploy_error('[]');
SELECT pg_temp.deploy_error('{"modules": {}}');
SELECT pg_temp.deploy_error('{"modules": {"../x.ts": "export const a = 1;"}}');
SELECT pg_temp.deploy_error('{"modules": {"a.ts": 1}}');
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}, "extra": 1}');
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}}', '{"dryrun": true}');
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}}', '{"force": "yes"}');
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}, "resolve": {"b.ts": {}}}');
-- no function at all
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}}');
-- type errors (42804), every one with its file, line and column
SELECT pg_temp.deploy_error($${"modules": {
  "a.ts": "import { query, v } from \"@stopgap/runtime\";\nimport { n } from \"./b\";\nexport const f = query(v.object({}), async () => { const s: string = n; return s; });\n",
  "b.ts": "export const n: number = 'one';\n"}}$$);
-- syntax errors (42601)
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const = ;"}}');
-- imports that resolve to nothing (42883), Node built-ins (0A000)
SELECT pg_temp.deploy_error($${"modules": {"a.ts": "import { x } from \"./missing\";\nimport y from \"left-pad\";\nexport const a = [x, y];\n"}}$$);
SELECT pg_temp.deploy_error($${"modules": {"a.ts": "import { readFileSync } from \"node:fs\";\nexport const a = readFileSync;\n"}}$$);
-- two functions with one live name (42710), a live name over 63 bytes (42622)
SELECT pg_temp.deploy_error($${"modules": {
  "a/b.ts": "import { query, v } from \"@stopgap/runtime\";\nexport const c = query(v.object({}), async () => 1);\n",
  "a_b.ts": "import { query, v } from \"@stopgap/runtime\";\nexport const c = query(v.object({}), async () => 2);\n"}}$$);
SELECT pg_temp.deploy_error(jsonb_build_object('modules', jsonb_build_object(repeat('x', 61) || '.ts',
  'import { query, v } from "@stopgap/runtime"; export const fn = query(v.object({}), async () => 1);')));
-- a module whose top-level code throws
SELECT pg_temp.deploy_error($${"modules": {"a.ts": "import { query, v } from \"@stopgap/runtime\";\nthrow new Error('boom at load');\nexport const f = query(v.object({}), async () => 1);\n"}}$$);
-- an endless loop wherever a project's code runs at deploy (a module's top level, an npm file's)
-- is stopped by stopgap.deploy_timeout_ms (57014), in a deploy and in a dry run
-- (PL/pgSQL's WHEN OTHERS does not catch 57014: psql shows the SQLSTATE)
SET stopgap.deploy_timeout_ms = 300;
SELECT stopgap.deploy_project('proj', $${"modules": {"a.ts": "import { query, v } from \"@stopgap/runtime\";\nwhile (true) {}\nexport const f = query(v.object({}), async () => 1);\n"}}$$);
\echo :LAST_ERROR_SQLSTATE
SELECT stopgap.deploy_project('proj', $${"modules": {"a.ts": "import { query, v } from \"@stopgap/runtime\";\nimport { x } from \"spin\";\nexport const f = query(v.object({}), async () => x);\n",
  "node_modules/spin/index.js": "for (;;) {}\nexport const x = 1;\n"},
  "resolve": {"a.ts": {"spin": "node_modules/spin/index.js"}}}$$);
\echo :LAST_ERROR_SQLSTATE
-- the same module again, in a dry run: stopped again (not "null": a stopped module is not kept)
SELECT r->'errors'->0->>'sqlstate' AS sqlstate, r->'errors'->0->>'message' AS message
  FROM stopgap.deploy_project('proj', $${"modules": {"a.ts": "import { query, v } from \"@stopgap/runtime\";\nwhile (true) {}\nexport const f = query(v.object({}), async () => 1);\n"}}$$,
                              NULL, '{"dry_run": true}') r;
RESET stopgap.deploy_timeout_ms;
-- a dry run whose module fails to load reports it, and the session goes on
SELECT r->'errors'->0->>'sqlstate' AS sqlstate, r->'errors'->0->>'message' AS message
  FROM stopgap.deploy_project('proj', $${"modules": {"a.ts": "import { query, v } from \"@stopgap/runtime\";\nthrow new Error('boom at load');\nexport const f = query(v.object({}), async () => 1);\n"}}$$,
                              NULL, '{"dry_run": true}') r;
SELECT stopgap.call_fn('api.pkgs.both', '{}', 'proj');
-- a dry run reports problems as data
SELECT r->'errors'->0->>'sqlstate' AS sqlstate, r->'deployment_id' AS deployment_id
  FROM stopgap.deploy_project('proj', '{"modules": {"a.ts": "export const = ;"}}', NULL, '{"dry_run": true}') r;
SELECT count(*) AS deployments_unchanged FROM stopgap.deployment WHERE env = 'proj' AND label = 'bad';
-- a role that may not deploy
SET ROLE proj_app;
SELECT pg_temp.deploy_error('{"modules": {"a.ts": "export const a = 1;"}}');
RESET ROLE;
SELECT stopgap.call_fn('api.users.profile.get', '{"id": 1}', 'proj');

-- dropping the environment takes its project deployments' modules along
SELECT stopgap.drop_environment('proj');
SELECT count(*) AS modules_left FROM stopgap.module_version;
DROP TABLE proj_items;
DROP ROLE proj_outsider;
DROP ROLE proj_app;
