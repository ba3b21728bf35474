-- stopgap lifecycle: DROP EXTENSION stopgap is refused while environments exist (it would delete
-- their history while their live functions go on running); stopgap.drop_environment drops one
-- environment on purpose; stopgap.source shows the TypeScript a live function runs.
-- Runs in a database of its own, so that no other test's environments (or event triggers) show.
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS stopgap_lifecycle_db;
RESET client_min_messages;
CREATE DATABASE stopgap_lifecycle_db;
\c stopgap_lifecycle_db
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION stopgap CASCADE;
RESET client_min_messages;

-- without environments DROP EXTENSION works, and takes its event trigger with it
SELECT evtname, evtevent, evttags, evtenabled FROM pg_event_trigger;
DROP EXTENSION stopgap;
SELECT count(*) AS event_triggers FROM pg_event_trigger;
CREATE EXTENSION stopgap;

-- two environments, one with two deployments and a function that imports another
CREATE SCHEMA lc_app;
CREATE FUNCTION lc_app.hello(name text) RETURNS text LANGUAGE plts AS $$
export default (ctx: any): string => `hello ${ctx.args.name}`;
$$;
CREATE FUNCTION lc_app.greet(name text) RETURNS text LANGUAGE plts AS $$
import hello from "@stopgap/lc_app/hello";
export default (ctx: any): string => hello(ctx) + "!";
$$;
SET client_min_messages = warning;  -- deploy's progress notices
SET stopgap.live_schema = 'lc_live';
SELECT stopgap.deploy('lc', 'lc_app', 'v1') > 0 AS deployed;
CREATE OR REPLACE FUNCTION lc_app.hello(name text) RETURNS text LANGUAGE plts AS $$
export default (ctx: any): string => `hello again ${ctx.args.name}`;
$$;
SELECT stopgap.deploy('lc', 'lc_app', 'v2') > 0 AS deployed;
SET stopgap.live_schema = 'lc_live_other';
SELECT stopgap.deploy('lc_other', 'lc_app', 'o1') > 0 AS deployed;
RESET stopgap.live_schema;
RESET client_min_messages;
SELECT lc_live.hello('ann'), lc_live_other.greet('bob');

-- DROP EXTENSION stopgap is refused in every form while they exist: 2BP01, the environments
-- named, the way out in the hint
DROP EXTENSION stopgap;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
DROP EXTENSION stopgap CASCADE;
DROP EXTENSION IF EXISTS stopgap;
DROP EXTENSION IF EXISTS lc_nope, stopgap;
DROP EXTENSION plts, stopgap;
-- and so is whatever would drop it by CASCADE: plts, or the schema stopgap was created in
DROP EXTENSION plts CASCADE;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT extnamespace::regnamespace AS stopgap_created_in FROM pg_extension WHERE extname = 'stopgap';
DROP SCHEMA public CASCADE;
-- nothing was dropped
SELECT count(*) AS environments, (SELECT count(*) FROM stopgap.deployment) AS deployments FROM stopgap.environment;
SELECT lc_live.hello('still here');

-- other DROPs are not affected
\set VERBOSITY terse
DROP EXTENSION plts;  -- plts's own refusal (RESTRICT), as before
\set VERBOSITY default
DROP EXTENSION IF EXISTS lc_nope;
CREATE EXTENSION citext;
DROP EXTENSION citext CASCADE;
CREATE SCHEMA lc_scratch;
CREATE TABLE lc_scratch.t (x int);
DROP SCHEMA lc_scratch CASCADE;
CREATE ROLE lc_regress_user;
GRANT CREATE ON DATABASE stopgap_lifecycle_db TO lc_regress_user;
SET ROLE lc_regress_user;
CREATE SCHEMA lc_mine;
CREATE TABLE lc_mine.t (x int);
DROP SCHEMA lc_mine CASCADE;
RESET ROLE;

-- many environments: ten are named, the rest counted
INSERT INTO stopgap.environment (env, live_schema, created_by)
SELECT format('lc_many_%s', lpad(i::text, 2, '0')), format('lc_many_live_%s', i), current_user
  FROM generate_series(1, 12) i;
DROP EXTENSION stopgap;
-- the hint's way to drop them all (these have no live schema yet)
SELECT count(stopgap.drop_environment(env)) AS dropped FROM stopgap.environment WHERE env LIKE 'lc\_many\_%';

-- stopgap.source: the TypeScript a function runs
-- a live pointer: its artifact's source, the deployed version (not the source schema's current one)
SELECT stopgap.source('lc_live.hello(text)');
SELECT stopgap.source('lc_live_other.hello(text)') = stopgap.source('lc_live.hello(text)') AS same_as_lc;
CREATE OR REPLACE FUNCTION lc_app.hello(name text) RETURNS text LANGUAGE plts AS $$
export default (ctx: any): string => `not deployed ${ctx.args.name}`;
$$;
SELECT stopgap.source('lc_live.hello(text)') LIKE '%hello again%' AS still_the_deployed_one;
-- an importer: its source with the import map stopgap baked in
SELECT stopgap.source('lc_live.greet(text)') LIKE E'%import hello from "@stopgap/lc_app/hello";%\n// plts-import-map: {"@stopgap/lc_app/hello": "plts+artifact:sha256:%"}\n'
       AS baked_import_map;
-- a plts function that is not a pointer: its own body
SELECT stopgap.source('lc_app.hello(text)');
-- another language
SELECT stopgap.source('pg_catalog.now()');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
CREATE FUNCTION lc_app.plain() RETURNS int LANGUAGE sql RETURN 1;
SELECT stopgap.source('lc_app.plain()');
-- a pointer stub whose artifact is missing
SET check_function_bodies = off;
CREATE FUNCTION lc_app.ghost() RETURNS text LANGUAGE plts AS
'{"plts":1,"kind":"artifact_ptr","artifact_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000","export":"default"}';
RESET check_function_bodies;
SELECT stopgap.source('lc_app.ghost()');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- anyone may call it (like reading plts.artifact and pg_proc)
SELECT 'lc_live.hello(text)'::regprocedure::oid AS hello_oid \gset
SET ROLE lc_regress_user;
SELECT stopgap.source(:hello_oid) LIKE '%hello again%' AS readable_by_anyone;
RESET ROLE;

-- stopgap.drop_environment: superuser only
CREATE ROLE lc_regress_deployer IN ROLE stopgap_deployer;
SET ROLE lc_regress_deployer;
SELECT stopgap.drop_environment('lc');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
-- unknown or no environment
SELECT stopgap.drop_environment('lc_nope');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT stopgap.drop_environment(NULL);
-- the history is still protected from plain deletes
DELETE FROM stopgap.deployment WHERE env = 'lc';
DELETE FROM stopgap.fn_version;
-- refused, nothing changed, while a user's object depends on a live function ...
CREATE SCHEMA lc_user;
CREATE VIEW lc_user.greeting AS SELECT lc_live.hello('view') AS g;
CREATE TABLE lc_user.t (g text DEFAULT lc_live.greet('default'));
SELECT stopgap.drop_environment('lc');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
DROP VIEW lc_user.greeting;
DROP TABLE lc_user.t;
-- ... or lives in the live schema
CREATE TABLE lc_live.notes (x int);
CREATE FUNCTION lc_live.by_hand() RETURNS int LANGUAGE sql RETURN 1;
SELECT stopgap.drop_environment('lc');
DROP TABLE lc_live.notes;
DROP FUNCTION lc_live.by_hand();
SELECT (SELECT count(*) FROM stopgap.deployment WHERE env = 'lc') AS deployments,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'lc_live'::regnamespace) AS live_functions;
SELECT lc_live.greet('still');

-- dropped: live schema and history gone, the other environment untouched
SELECT id AS other_active FROM stopgap.deployment WHERE env = 'lc_other' AND status = 'active' \gset
BEGIN;
SELECT stopgap.drop_environment('lc');
-- the guards let that drop's deletes through, and only those
SAVEPOINT other;
DELETE FROM stopgap.deployment WHERE env = 'lc_other';
ROLLBACK TO SAVEPOINT other;
COMMIT;
SELECT count(*) AS lc_environment FROM stopgap.environment WHERE env = 'lc';
SELECT count(*) AS lc_deployments FROM stopgap.deployment WHERE env = 'lc';
SELECT count(*) AS lc_activations FROM stopgap.activation_log WHERE env = 'lc';
SELECT count(*) AS functions_of_other_deployments
  FROM stopgap.fn_version v LEFT JOIN stopgap.deployment d ON d.id = v.deployment_id
 WHERE d.env IS DISTINCT FROM 'lc_other';
SELECT count(*) AS lc_live_schema FROM pg_namespace WHERE nspname = 'lc_live';
SELECT env, live_schema, active_deployment_id = :other_active AS same_active FROM stopgap.environment;
SELECT (SELECT count(*) FROM stopgap.deployment WHERE env = 'lc_other') AS other_deployments,
       (SELECT count(*) FROM stopgap.activation_log WHERE env = 'lc_other') AS other_activations;
SELECT lc_live_other.greet('bob');
SELECT * FROM stopgap.check();
SELECT stopgap.drop_environment('lc');

-- the last one dropped: DROP EXTENSION works and leaves nothing behind
DROP EXTENSION stopgap;
SELECT stopgap.drop_environment('lc_other');
DROP EXTENSION stopgap;
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname IN ('stopgap', 'lc_live', 'lc_live_other');
SELECT count(*) AS leftover_event_triggers FROM pg_event_trigger;
SELECT count(*) AS leftover_functions FROM pg_proc WHERE prosrc IN ('stopgap_drop_guard', 'stopgap_version');

\c :regress_db
DROP DATABASE stopgap_lifecycle_db;
DROP ROLE lc_regress_user, lc_regress_deployer;
