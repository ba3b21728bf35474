-- stopgap: deploy, call, redeploy, rollback, cross-function imports, failures that leave nothing.
-- (plts exists: the language test created it.) Output shows no hashes, ids or timestamps: they
-- are compared, not printed.
CREATE EXTENSION stopgap;
\set SHOW_CONTEXT never
SET stopgap.live_schema = 'sg_live';

-- settings
SHOW stopgap.live_schema;
SHOW stopgap.default_env;
SHOW stopgap.prune;
SHOW stopgap.log_level;
SET stopgap.live_schema = 'pg_nope';
SET stopgap.live_schema = '';
SET stopgap.default_env = 'no spaces';
SET stopgap.log_level = debug;
RESET stopgap.log_level;

-- a source schema with three functions: a plain function, a query that imports another
-- deployed function, and a mutation
CREATE SCHEMA sg_app;
CREATE TABLE sg_app.counter(n int);
INSERT INTO sg_app.counter VALUES (0);
CREATE FUNCTION sg_app.greeting() RETURNS text LANGUAGE plts IMMUTABLE AS $$
export default () => "hello v1";
$$;
CREATE FUNCTION sg_app.greet(name text DEFAULT 'world') RETURNS text LANGUAGE plts STABLE STRICT AS $$
import greeting from "@stopgap/sg_app/greeting";
export default (ctx: any) => `${greeting()}, ${ctx.args.name}`;
$$;
CREATE FUNCTION sg_app.bump(args jsonb) RETURNS jsonb LANGUAGE plts PARALLEL UNSAFE AS $$
import { mutation, v } from "@stopgap/runtime";
export default mutation(v.object({ by: v.int() }), async (args, ctx) => {
  await ctx.db.exec('update sg_app.counter set n = n + $1', [args.by]);
  return (await ctx.db.query('select n from sg_app.counter'))[0];
});
$$;
COMMENT ON FUNCTION sg_app.greet(text) IS 'greets';

-- first deploy: creates the environment and its live schema
SELECT stopgap.deploy('sg', 'sg_app', 'v1') AS d1 \gset
SELECT sg_live.greet(), sg_live.greet('ann'), sg_live.bump('{"by": 2}');
SELECT env, live_schema, active_deployment_id = :d1 AS active_is_d1 FROM stopgap.environment;
SELECT label, status, source_schema, created_by = current_user AS by_me FROM stopgap.deployment;
SELECT fn_name, signature, kind, imports FROM stopgap.fn_version ORDER BY fn_name;
-- live functions: same signature and attributes, body a pointer stub, owned by stopgap_owner
SELECT p.proname, pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result,
       p.provolatile, p.proisstrict, p.proparallel, pg_get_userbyid(p.proowner) AS owner,
       p.prosrc::jsonb->>'kind' AS stub, l.lanname, obj_description(p.oid, 'pg_proc') AS comment
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'sg_live'::regnamespace ORDER BY 1;
SELECT pg_get_userbyid(nspowner) AS live_schema_owner FROM pg_namespace WHERE nspname = 'sg_live';
-- the manifest
SELECT m->>'env' AS env, m->>'source_schema' AS source, m->>'live_schema' AS live,
       jsonb_array_length(m->'functions') AS functions,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m->'import_map') k) AS import_map,
       m->'prune' AS prune
  FROM (SELECT manifest AS m FROM stopgap.deployment WHERE id = :d1) x;
-- the import map: in the manifest, in the pointer stub of the importer, and baked into its artifact
SELECT (p.prosrc::jsonb->'import_map'->>'@stopgap/sg_app/greeting') = 'plts+artifact:' || g.artifact_hash AS stub_maps_greeting,
       a.source_ts LIKE '%// plts-import-map: {"@stopgap/sg_app/greeting": "plts+artifact:' || g.artifact_hash || '"}%' AS baked
  FROM pg_proc p, stopgap.fn_version v, stopgap.fn_version g, plts.artifact a
 WHERE p.oid = 'sg_live.greet'::regproc AND v.deployment_id = :d1 AND v.fn_name = 'greet'
   AND g.deployment_id = :d1 AND g.fn_name = 'greeting' AND a.artifact_hash = v.artifact_hash;

-- redeploy a changed body: the importer sees it too, in this same backend
CREATE OR REPLACE FUNCTION sg_app.greeting() RETURNS text LANGUAGE plts IMMUTABLE AS $$
export default () => "hello v2";
$$;
SELECT stopgap.deploy('sg', 'sg_app', 'v2') AS d2 \gset
SELECT sg_live.greet('bob');
SELECT id = :d1 AS is_d1, label, status FROM stopgap.deployment ORDER BY id;
-- an unchanged function keeps its artifact; the importer's artifact changed with its dependency
SELECT a.fn_name, a.artifact_hash = b.artifact_hash AS same_artifact, a.source_sha256 = b.source_sha256 AS same_body
  FROM stopgap.fn_version a JOIN stopgap.fn_version b USING (fn_name)
 WHERE a.deployment_id = :d1 AND b.deployment_id = :d2 ORDER BY 1;

-- rollback: the old body is back, through the import map too
SELECT stopgap.rollback('sg') = :d1 AS rolled_back_to_d1;
SELECT sg_live.greet('bob'), sg_live.greeting();
SELECT id = :d1 AS is_d1, label, status FROM stopgap.deployment ORDER BY id;
-- every live pointer names the artifact of the active deployment's fn_version
SELECT v.fn_name, (p.prosrc::jsonb->>'artifact_hash') = v.artifact_hash AS pointer_matches, p.prosrc = v.pointer AS stub_matches
  FROM stopgap.environment e
  JOIN stopgap.fn_version v ON v.deployment_id = e.active_deployment_id
  JOIN pg_proc p ON p.pronamespace = 'sg_live'::regnamespace AND p.proname = v.fn_name
 WHERE e.env = 'sg' ORDER BY 1;
-- past the first deployment is an error
SELECT stopgap.rollback('sg');
SELECT stopgap.rollback('sg', 0);
SELECT stopgap.rollback('nowhere');
SELECT stopgap.rollback('sg', to_id => :d2);  -- rolled back: cannot come back
-- deploy again (v3 = v2's code), then roll back two steps at once to... d1 is the only earlier one
SELECT stopgap.deploy('sg', 'sg_app', 'v3') AS d3 \gset
SELECT sg_live.greet('cy');
SELECT stopgap.rollback('sg', 2);
SELECT stopgap.rollback('sg', to_id => :d1) = :d1 AS back_to_d1;
SELECT sg_live.greet('cy');
SELECT id = :d1 AS is_d1, label, status FROM stopgap.deployment ORDER BY id;
SELECT action, from_label, to_label, actor = current_user AS by_me FROM stopgap.activation_audit ORDER BY id;
SELECT env, live_schema, active_label, function_count, deployment_count, last_action FROM stopgap.environment_overview;

-- status and deployments
SELECT s->>'env' AS env, s->>'live_schema' AS live, s->'active_deployment'->>'label' AS active_label,
       s->'function_count' AS functions, s->'drifted' AS drifted, s->'drift' AS drift, s->'retained' AS retained
  FROM stopgap.status('sg') s;
SELECT d->>'label' AS label, d->>'status' AS status, d->'is_active' AS is_active,
       jsonb_array_length(d->'functions') AS functions,
       (SELECT string_agg((f->>'fn_name') || ':' || (f->>'kind'), ', ') FROM jsonb_array_elements(d->'functions') f) AS kinds
  FROM jsonb_array_elements(stopgap.deployments('sg')) d;
SELECT stopgap.status('nowhere');
-- drift: someone hand-edits a live function and adds one
CREATE OR REPLACE FUNCTION sg_live.greeting() RETURNS text LANGUAGE plts IMMUTABLE AS $$ export default () => "hotfix" $$;
CREATE FUNCTION sg_live.stray() RETURNS int LANGUAGE plts AS $$ export default () => 1 $$;
SELECT jsonb_pretty(stopgap.status('sg')->'drift');
-- redeploying rewrites what stopgap owns; the stray function stays (prune is off) and is reported
SELECT stopgap.deploy('sg', 'sg_app', 'v4') AS d4 \gset
SELECT stopgap.status('sg')->'drift' AS drift;
DROP FUNCTION sg_live.stray();
SELECT stopgap.status('sg')->'drifted' AS drifted;

-- diff: one added, one changed, one removed, one unchanged; nothing is stored or changed
CREATE FUNCTION sg_app.added() RETURNS int LANGUAGE plts AS $$ export default () => 42 $$;
CREATE OR REPLACE FUNCTION sg_app.greet(name text DEFAULT 'world') RETURNS text LANGUAGE plts STABLE STRICT AS $$
export default (ctx: any) => `hi, ${ctx.args.name}`;
$$;
DROP FUNCTION sg_app.greeting();
CREATE TABLE sg_app.snapshot AS SELECT (SELECT count(*) FROM plts.artifact) AS artifacts,
  (SELECT count(*) FROM stopgap.deployment) AS deployments;
SELECT d->'summary' AS summary FROM stopgap.diff('sg', 'sg_app') d;
SELECT f->>'fn_name' AS fn_name, f->>'change' AS change, f->'reasons' AS reasons,
       f ? 'artifact_hash' AS has_new, f ? 'active_artifact_hash' AS has_active
  FROM jsonb_array_elements(stopgap.diff('sg', 'sg_app')->'functions') f;
SELECT (SELECT count(*) FROM plts.artifact) = artifacts AS no_new_artifacts,
       (SELECT count(*) FROM stopgap.deployment) = deployments AS no_new_deployments
  FROM sg_app.snapshot;
DROP TABLE sg_app.snapshot;
-- a diff reports compile errors instead of failing
SET check_function_bodies = off;
CREATE FUNCTION sg_app.broken() RETURNS int LANGUAGE plts AS $$
export default () => {
  return 1 +;
};
$$;
RESET check_function_bodies;
SELECT d->'summary'->'errors' AS errors, f->'error' AS error
  FROM stopgap.diff('sg', 'sg_app') d, jsonb_array_elements(d->'functions') f WHERE f->>'fn_name' = 'broken';
-- a diff against an environment that does not exist yet: everything is added
SELECT stopgap.diff('sg_new', 'sg_app')->'summary' AS summary;

-- a compile error aborts the whole deploy: no new rows anywhere, live functions untouched
CREATE TABLE sg_app.before AS
  SELECT (SELECT count(*) FROM stopgap.deployment) AS deployments, (SELECT count(*) FROM stopgap.fn_version) AS fn_versions,
         (SELECT count(*) FROM stopgap.activation_log) AS activations, (SELECT count(*) FROM plts.artifact) AS artifacts,
         (SELECT active_deployment_id FROM stopgap.environment WHERE env = 'sg') AS active,
         (SELECT string_agg(p.prosrc, ',' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'sg_live'::regnamespace) AS live;
SELECT stopgap.deploy('sg', 'sg_app', 'broken');
SELECT (SELECT count(*) FROM stopgap.deployment) = deployments AS same_deployments,
       (SELECT count(*) FROM stopgap.fn_version) = fn_versions AS same_fn_versions,
       (SELECT count(*) FROM stopgap.activation_log) = activations AS same_activations,
       (SELECT count(*) FROM plts.artifact) = artifacts AS same_artifacts,
       (SELECT active_deployment_id FROM stopgap.environment WHERE env = 'sg') = active AS same_active,
       (SELECT string_agg(p.prosrc, ',' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'sg_live'::regnamespace) = live AS same_live
  FROM sg_app.before;
DROP FUNCTION sg_app.broken();
-- a failure after the live functions were rewritten leaves nothing either: the new greet's
-- signature needs a DROP, which a view blocks
CREATE VIEW sg_app.uses_greet AS SELECT sg_live.greet('view') AS g;
CREATE OR REPLACE FUNCTION sg_app.greet(name text DEFAULT 'world') RETURNS text LANGUAGE plts STABLE STRICT AS $$
export default (ctx: any) => `hi, ${ctx.args.name}`;
$$;
DROP FUNCTION sg_app.greet(text);
CREATE FUNCTION sg_app.greet(who text) RETURNS text LANGUAGE plts STABLE STRICT AS $$
export default (ctx: any) => `hi, ${ctx.args.who}`;
$$;
SELECT stopgap.deploy('sg', 'sg_app', 'blocked');
SELECT (SELECT count(*) FROM stopgap.deployment) = deployments AS same_deployments,
       (SELECT count(*) FROM stopgap.activation_log) = activations AS same_activations,
       (SELECT string_agg(p.prosrc, ',' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'sg_live'::regnamespace) = live AS same_live
  FROM sg_app.before;
SELECT * FROM sg_app.uses_greet;
DROP VIEW sg_app.uses_greet;
-- the caller's transaction decides: a deploy rolled back with it leaves nothing
BEGIN;
SELECT stopgap.deploy('sg', 'sg_app', 'in a transaction') IS NOT NULL AS deployed;
SELECT sg_live.greet('dee');
ROLLBACK;
SELECT (SELECT count(*) FROM stopgap.deployment) = deployments AS same_deployments,
       (SELECT string_agg(p.prosrc, ',' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'sg_live'::regnamespace) = live AS same_live
  FROM sg_app.before;
DROP TABLE sg_app.before;
-- now it goes through: greet(who text) replaces greet(name text)
SELECT stopgap.deploy('sg', 'sg_app', 'v5') AS d5 \gset
SELECT p.oid::regprocedure AS live_function FROM pg_proc p WHERE p.pronamespace = 'sg_live'::regnamespace ORDER BY p.proname;
SELECT sg_live.greet('eve'), sg_live.added();
-- greeting is no longer deployed; with stopgap.prune off its live function stays, reported as retained
SELECT s->'drift' AS drift, s->'retained' AS retained FROM stopgap.status('sg') s;

-- the state machine refuses anything else, and sealed deployments are immutable
UPDATE stopgap.deployment SET status = 'open' WHERE id = :d5;
UPDATE stopgap.deployment SET status = 'sealed' WHERE id = :d1;
UPDATE stopgap.deployment SET manifest = '{}' WHERE id = :d1;
UPDATE stopgap.deployment SET status = 'active' WHERE id = :d2;
DELETE FROM stopgap.deployment WHERE id = :d1;
UPDATE stopgap.fn_version SET artifact_hash = artifact_hash WHERE deployment_id = :d1;

-- what deploy refuses in a source schema (each failed deploy leaves no environment behind)
CREATE SCHEMA sg_bad;
SET stopgap.live_schema = 'sg_live_bad';
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- nothing to deploy
SELECT stopgap.deploy('sg_bad', 'sg_missing');                    -- no such schema
SELECT stopgap.deploy('sg_bad', 'sg_live');                       -- a live schema
SELECT stopgap.deploy('bad env!', 'sg_app');
CREATE FUNCTION sg_bad.f(x int) RETURNS int LANGUAGE plts AS $$ export default () => 1 $$;
CREATE FUNCTION sg_bad.f(x text) RETURNS int LANGUAGE plts AS $$ export default () => 2 $$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- overloads
DROP FUNCTION sg_bad.f(text);
CREATE FUNCTION sg_bad.g() RETURNS int LANGUAGE plts AS $$
import x from "@stopgap/sg_bad/nope";
export default () => x;
$$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- imports a function that is not there
DROP FUNCTION sg_bad.g();
CREATE FUNCTION sg_bad.ping() RETURNS int LANGUAGE plts AS $$
import pong from "@stopgap/sg_bad/pong";
export default () => pong();
$$;
CREATE FUNCTION sg_bad.pong() RETURNS int LANGUAGE plts AS $$
import ping from "@stopgap/sg_bad/ping";
export default () => ping();
$$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- import cycle
DROP FUNCTION sg_bad.ping(), sg_bad.pong();
CREATE FUNCTION sg_bad.h() RETURNS int LANGUAGE plts AS $$ export const h = () => 1; $$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- no default export
DROP FUNCTION sg_bad.h();
CREATE FUNCTION sg_bad.s() RETURNS int LANGUAGE plts SECURITY DEFINER AS $$ export default () => 1 $$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- SECURITY DEFINER
DROP FUNCTION sg_bad.s();
CREATE FUNCTION sg_bad.t() RETURNS int LANGUAGE plts AS $$ export default () => { throw new Error("at load") }; throw new Error("top level"); $$;
SELECT stopgap.deploy('sg_bad', 'sg_bad');                        -- fails to load
DROP FUNCTION sg_bad.t();
SELECT count(*) AS environments FROM stopgap.environment WHERE env = 'sg_bad';
-- a second environment cannot share a live schema
SET stopgap.live_schema = 'sg_live';
SELECT stopgap.deploy('sg_other', 'sg_app');
-- env => NULL means stopgap.default_env
SET stopgap.default_env = 'sg';
SELECT stopgap.status(NULL)->>'env' AS env, jsonb_array_length(stopgap.deployments()) AS deployments;
RESET stopgap.default_env;

-- activations are logged (at LOG: shown here by client_min_messages)
SET client_min_messages = log;
SELECT stopgap.deploy('sg', 'sg_app', 'logged', force => true) IS NOT NULL AS deployed;
SET stopgap.log_level = warning;
SELECT stopgap.rollback('sg') IS NOT NULL AS rolled_back;
RESET stopgap.log_level;
RESET client_min_messages;

-- metrics: this backend's counters
SELECT stopgap.metrics() AS m0 \gset
SELECT stopgap.deploy('sg', 'sg_app', 'v6') IS NOT NULL AS deployed;
SELECT stopgap.deploy('sg', 'sg_nope');
SELECT stopgap.rollback('sg') IS NOT NULL AS rolled_back;
SELECT stopgap.diff('sg', 'sg_app') IS NOT NULL AS diffed;
WITH m AS (SELECT stopgap.metrics() AS m1, :'m0'::jsonb AS m0)
SELECT (m1->'deploy'->>'calls')::int - (m0->'deploy'->>'calls')::int AS deploys,
       (m1->'deploy'->>'errors')::int - (m0->'deploy'->>'errors')::int AS deploy_errors,
       (m1->'rollback'->>'calls')::int - (m0->'rollback'->>'calls')::int AS rollbacks,
       (m1->'diff'->>'calls')::int - (m0->'diff'->>'calls')::int AS diffs,
       (m1->>'errors')::int - (m0->>'errors')::int AS errors,
       (m1->'error_classes'->>'invalid_input')::int - (m0->'error_classes'->>'invalid_input')::int AS invalid_input,
       (m1->'latency_us'->>'total')::bigint > (m0->'latency_us'->>'total')::bigint AS latency_grows,
       (m1->'deploy'->'latency_us'->>'max')::bigint >= (m1->'deploy'->'latency_us'->>'last')::bigint AS max_ge_last,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m1->'error_classes') k) AS classes
  FROM m;
SELECT (m->'error_classes'->>'compile')::int > 0 AS compile_errors_counted,
       (m->'error_classes'->>'state')::int > 0 AS state_errors_counted
  FROM stopgap.metrics() m;

-- a function's own inline import map is kept: merged with the deployed functions it imports
CREATE SCHEMA sg_map;
SELECT plts.compile_and_store('export const twice = (x: number): number => 2 * x;') AS lib \gset
CREATE FUNCTION sg_map.base() RETURNS int LANGUAGE plts AS $$ export default () => 20 $$;
\set ECHO none
SELECT format('CREATE FUNCTION sg_map.uses_both() RETURNS int LANGUAGE plts AS %L',
  format(E'// plts-import-map: {"lib": "plts+artifact:%s"}\nimport { twice } from "lib";\n'
         'import base from "@stopgap/sg_map/base";\nexport default () => twice(base()) + 2;', :'lib')) \gexec
\set ECHO all
SET stopgap.live_schema = 'sg_map_live';
SELECT stopgap.deploy('sg_map', 'sg_map') IS NOT NULL AS deployed;
SELECT sg_map_live.uses_both();
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(substring(a.source_ts from '\n// plts-import-map: ([^\n]*)\n$')::jsonb) k) AS baked_map
  FROM stopgap.fn_version v JOIN plts.artifact a USING (artifact_hash)
 WHERE v.fn_name = 'uses_both';

-- artifacts are stored in hash order, whatever the functions' names (deploys that share artifacts
-- then insert them in one order and cannot deadlock on each other's uncommitted rows)
CREATE TABLE sg_store_log (n serial, artifact_hash text);
CREATE FUNCTION sg_log_store() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.sg_store_log (artifact_hash) VALUES (NEW.artifact_hash); RETURN NEW; END $$;
CREATE TRIGGER sg_log_store AFTER INSERT ON plts.artifact FOR EACH ROW EXECUTE FUNCTION sg_log_store();
CREATE SCHEMA sg_order;
SET check_function_bodies = off;  -- or CREATE FUNCTION would store each artifact already
SELECT format('CREATE FUNCTION sg_order.f%s() RETURNS int LANGUAGE plts AS %L', i,
              format('export default () => %s * 7919;', i))
  FROM generate_series(1, 6) i \gexec
RESET check_function_bodies;
SET stopgap.live_schema = 'sg_order_live';
SELECT stopgap.deploy('sg_order', 'sg_order') IS NOT NULL AS deployed;
SELECT count(*) AS stored,
       array_agg(artifact_hash ORDER BY n) = array_agg(artifact_hash ORDER BY artifact_hash COLLATE "C")
         AS in_hash_order,
       array_agg(artifact_hash ORDER BY n) <>
         (SELECT array_agg(v.artifact_hash ORDER BY v.fn_name) FROM stopgap.fn_version v
           JOIN stopgap.deployment d ON d.id = v.deployment_id WHERE d.env = 'sg_order')
         AS not_in_name_order
  FROM sg_store_log;
SELECT sg_order_live.f6();
DROP TRIGGER sg_log_store ON plts.artifact;
DROP TABLE sg_store_log;
DROP FUNCTION sg_log_store();

SET client_min_messages = warning;
DROP SCHEMA sg_app, sg_bad, sg_live, sg_live_bad, sg_map, sg_map_live, sg_order, sg_order_live CASCADE;
RESET client_min_messages;
RESET stopgap.live_schema;
