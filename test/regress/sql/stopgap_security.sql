-- stopgap security: who may deploy, roll back and diff; who may call and change live functions;
-- SECURITY DEFINER entry points with a pinned search_path. Roles are cluster-wide: these are
-- created here with unique names and dropped at the end.
\set SHOW_CONTEXT never
SET stopgap.live_schema = 'sg_sec_live';

-- the extension's roles exist, and only stopgap_owner is meant to own live objects
SELECT rolname, rolcanlogin FROM pg_roles
 WHERE rolname IN ('stopgap_owner', 'stopgap_deployer', 'app_user') ORDER BY 1;

-- deploy, rollback and diff run as the extension's owner with search_path pinned; only
-- stopgap_deployer may execute them
SELECT p.proname, p.prosecdef, p.proconfig, p.proowner = e.extowner AS owned_by_extension_owner,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('stopgap_deployer', p.oid, 'EXECUTE') AS deployer_may_execute
  FROM pg_proc p, pg_extension e
 WHERE e.extname = 'stopgap' AND p.pronamespace = 'stopgap'::regnamespace
   AND p.proname IN ('deploy', 'rollback', 'diff', 'status', 'deployments')
 ORDER BY 1;
-- no internal function is executable by PUBLIC; every SECURITY DEFINER function pins search_path
SELECT count(*) AS public_internal_functions FROM pg_proc p
 WHERE p.pronamespace = 'stopgap'::regnamespace AND p.proname LIKE '\_%'
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT p.proname, CASE WHEN p.proowner = e.extowner THEN 'extension owner' ELSE pg_get_userbyid(p.proowner) END AS owner,
       p.proconfig
  FROM pg_proc p, pg_extension e
 WHERE e.extname = 'stopgap' AND p.pronamespace = 'stopgap'::regnamespace AND p.prosecdef ORDER BY 1;

CREATE ROLE sg_regress_deployer IN ROLE stopgap_deployer;
CREATE ROLE sg_regress_nousage IN ROLE stopgap_deployer;
CREATE ROLE sg_regress_app IN ROLE app_user;
CREATE ROLE sg_regress_outsider;

CREATE SCHEMA sg_sec;
GRANT USAGE ON SCHEMA sg_sec TO sg_regress_deployer;
CREATE TABLE sg_sec.notes(id int, body text);
INSERT INTO sg_sec.notes VALUES (1, 'hello');
GRANT USAGE ON SCHEMA sg_sec TO app_user;
GRANT SELECT ON sg_sec.notes TO app_user;
CREATE FUNCTION sg_sec.note(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";
export default query(v.object({ id: v.int() }), async (args, ctx) =>
  (await ctx.db.query('select body from sg_sec.notes where id = $1', [args.id]))[0] ?? null);
$$;

-- a deployer with USAGE on the source schema may deploy (the caller is the SET ROLE role, even
-- though deploy runs as its owner)
SET ROLE sg_regress_deployer;
SELECT stopgap.deploy('sg_sec', 'sg_sec', 'by a deployer') IS NOT NULL AS deployed;
-- (unchanged code: force records a second deployment anyway)
SELECT stopgap.deploy('sg_sec', 'sg_sec', 'again', true) IS NOT NULL AS deployed;
SELECT s->'active_deployment'->>'created_by' AS created_by, s->'function_count' AS functions
  FROM stopgap.status('sg_sec') s;
SELECT stopgap.diff('sg_sec', 'sg_sec')->'summary' AS summary;
RESET ROLE;
SELECT action, actor FROM stopgap.activation_audit WHERE env = 'sg_sec' ORDER BY id;

-- a deployer without USAGE on the source schema is refused, for deploy and diff
SET ROLE sg_regress_nousage;
SELECT stopgap.deploy('sg_sec', 'sg_sec');
SELECT stopgap.diff('sg_sec', 'sg_sec');
-- ...but may roll back (which reads no source) and see the status
SELECT stopgap.rollback('sg_sec') IS NOT NULL AS rolled_back;
SELECT stopgap.status('sg_sec')->'active_deployment'->>'label' AS active;
RESET ROLE;

-- roles outside stopgap_deployer may not call deploy, rollback, diff or the introspection
SET ROLE sg_regress_outsider;
SELECT stopgap.deploy('sg_sec', 'sg_sec');
SELECT stopgap.rollback('sg_sec');
SELECT stopgap.diff('sg_sec', 'sg_sec');
SELECT stopgap.status('sg_sec');
SELECT count(*) FROM stopgap.deployment;
RESET ROLE;
-- and EXECUTE granted to someone directly is not enough: deploy checks membership itself
GRANT EXECUTE ON FUNCTION stopgap.deploy(text, text, text) TO sg_regress_outsider;
GRANT USAGE ON SCHEMA sg_sec TO sg_regress_outsider;
SET ROLE sg_regress_outsider;
SELECT stopgap.deploy('sg_sec', 'sg_sec');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION stopgap.deploy(text, text, text) FROM sg_regress_outsider;
REVOKE USAGE ON SCHEMA sg_sec FROM sg_regress_outsider;
-- wrapping deploy in a deployer's SECURITY DEFINER function does not hand it to other roles:
-- stopgap checks the role the session acts as, not the wrapper's owner
CREATE FUNCTION sg_sec.deploy_for_anyone() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  RETURN stopgap.deploy('sg_sec', 'sg_sec', 'through a wrapper');
ALTER FUNCTION sg_sec.deploy_for_anyone() OWNER TO sg_regress_deployer;
GRANT USAGE ON SCHEMA sg_sec TO sg_regress_outsider;
SET ROLE sg_regress_outsider;
SELECT sg_sec.deploy_for_anyone();
RESET ROLE;
REVOKE USAGE ON SCHEMA sg_sec FROM sg_regress_outsider;
DROP FUNCTION sg_sec.deploy_for_anyone();

-- app_user may call live functions, but not deploy, nor create or replace anything in the live schema
SET ROLE sg_regress_app;
SELECT sg_sec_live.note('{"id": 1}');
SELECT stopgap.deploy('sg_sec', 'sg_sec');
CREATE FUNCTION sg_sec_live.evil() RETURNS int LANGUAGE plts AS $$ export default () => 1 $$;
CREATE OR REPLACE FUNCTION sg_sec_live.note(args jsonb) RETURNS jsonb LANGUAGE plts AS $$ export default () => "evil" $$;
CREATE TABLE sg_sec_live.t(x int);
ALTER FUNCTION sg_sec_live.note(jsonb) OWNER TO sg_regress_app;
RESET ROLE;
-- live functions are not executable by PUBLIC; stopgap_owner owns them and the live schema
SET ROLE sg_regress_outsider;
SELECT sg_sec_live.note('{"id": 1}');
RESET ROLE;
SELECT p.oid::regprocedure AS fn, pg_get_userbyid(p.proowner) AS owner,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('app_user', p.oid, 'EXECUTE') AS app_user_may_execute
  FROM pg_proc p WHERE p.pronamespace = 'sg_sec_live'::regnamespace;
SELECT pg_get_userbyid(nspowner) AS owner, has_schema_privilege('app_user', oid, 'USAGE') AS app_user_usage,
       has_schema_privilege('app_user', oid, 'CREATE') AS app_user_create,
       has_schema_privilege('stopgap_deployer', oid, 'CREATE') AS deployer_create
  FROM pg_namespace WHERE nspname = 'sg_sec_live';

-- a live schema that stopgap does not own is refused, with its name, and nothing is created
CREATE SCHEMA sg_unmanaged AUTHORIZATION sg_regress_outsider;
SET stopgap.live_schema = 'sg_unmanaged';
SELECT stopgap.deploy('sg_unmanaged_env', 'sg_sec');
SELECT count(*) AS environments FROM stopgap.environment WHERE env = 'sg_unmanaged_env';
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'sg_unmanaged'::regnamespace;
-- ...also when an environment's live schema changes hands later
ALTER SCHEMA sg_sec_live OWNER TO sg_regress_deployer;
SELECT stopgap.deploy('sg_sec', 'sg_sec');
SELECT stopgap.rollback('sg_sec');
ALTER SCHEMA sg_sec_live OWNER TO stopgap_owner;
RESET stopgap.live_schema;

-- names are quoted and values bound: schema, function and label names that are not plain identifiers
CREATE SCHEMA "sg Odd""Schema";
GRANT USAGE ON SCHEMA "sg Odd""Schema" TO sg_regress_deployer;
CREATE FUNCTION "sg Odd""Schema"."Say; DROP TABLE x"(msg text DEFAULT 'it''s') RETURNS text LANGUAGE plts
  COST 7 SET search_path = "sg Odd""Schema", public SET plts.max_runtime_ms = 250 AS $$
export default (ctx: any) => `said ${ctx.args.msg}`;
$$;
CREATE FUNCTION "sg Odd""Schema".caller() RETURNS text LANGUAGE plts AS $$
import say from '@stopgap/sg Odd"Schema/Say; DROP TABLE x';
export default () => say({ args: { msg: "twice" } }) + "!";
$$;
SET stopgap.live_schema = 'sg Odd"Live';
SET ROLE sg_regress_deployer;
SELECT stopgap.deploy('sg_odd', 'sg Odd"Schema', $$label'); DROP TABLE x; --$$) IS NOT NULL AS deployed;
RESET ROLE;
SELECT "sg Odd""Live"."Say; DROP TABLE x"(), "sg Odd""Live".caller();
SELECT label FROM stopgap.deployment WHERE env = 'sg_odd';
-- the live function carries the source's clauses, SET values quoted as PostgreSQL prints them
SELECT p.proname, p.procost, p.proconfig, (p.procost, p.proconfig) IS NOT DISTINCT FROM (s.procost, s.proconfig) AS same_as_source
  FROM pg_proc p JOIN pg_proc s ON s.proname = p.proname AND s.pronamespace = '"sg Odd""Schema"'::regnamespace
 WHERE p.pronamespace = '"sg Odd""Live"'::regnamespace ORDER BY 1;
RESET stopgap.live_schema;

SET client_min_messages = warning;
DROP SCHEMA sg_sec, sg_sec_live, sg_unmanaged, "sg Odd""Schema", "sg Odd""Live" CASCADE;
RESET client_min_messages;
DROP ROLE sg_regress_deployer, sg_regress_nousage, sg_regress_app, sg_regress_outsider;

-- DROP EXTENSION leaves the cluster-wide roles (other databases may use them)
-- (the environments first: DROP EXTENSION stopgap is refused while any exists)
SELECT count(stopgap.drop_environment(env)) >= 0 AS dropped FROM stopgap.environment;
DROP EXTENSION stopgap;
SELECT count(*) AS roles_kept FROM pg_roles WHERE rolname IN ('stopgap_owner', 'stopgap_deployer', 'app_user');
