-- stopgap's engine (0.2.0, C++): environments that exist before their first deploy, redeploys
-- of unchanged code, the type check, what a deploy refuses to load, dependencies from the
-- compiler's import analysis, and diff reporting every problem as data.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE EXTENSION IF NOT EXISTS stopgap CASCADE;

-- an environment and its live schema exist before the first deploy: grants can come first,
-- and a call before any deploy names the missing function, not a missing schema
SELECT stopgap.create_environment('sge', 'sge_live') AS live_schema;
SELECT nspname, pg_get_userbyid(nspowner) AS owner, has_schema_privilege('app_user', oid, 'USAGE') AS app_usage
  FROM pg_namespace WHERE nspname = 'sge_live';
CREATE ROLE sge_regress_web IN ROLE app_user;
GRANT USAGE ON SCHEMA sge_live TO sge_regress_web;
SELECT sge_live.hello();
SELECT s->'active_deployment' AS active, s->'function_count' AS functions, s->'drifted' AS drifted
  FROM stopgap.status('sge') s;
SELECT count(*) AS problems FROM stopgap.check('sge');
SELECT stopgap.rollback('sge');
SELECT stopgap.create_environment('sge', 'sge_live2');
SELECT stopgap.create_environment('sge2', 'sge_live');
SELECT stopgap.create_environment('sge3', 'pg_nope');
SELECT stopgap.create_environment('bad name!');

-- the first deploy reports its phases (NOTICE, gated by stopgap.log_level)
CREATE SCHEMA sge_src;
CREATE FUNCTION sge_src.price(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
export type Price = { amount: number };
export default (ctx: { args: { n: number } }): Price => ({ amount: ctx.args.n * 2 });
$$;
-- a type-only import is no runtime dependency (and needs no import map entry); a string that
-- merely contains "@stopgap/..." is none either
CREATE FUNCTION sge_src.label(args jsonb) RETURNS text LANGUAGE plts AS $$
import type { Price } from "@stopgap/sge_src/price";
const note = "see @stopgap/sge_src/nothing for details";
export default (ctx: { args: Price }) => `${ctx.args.amount} (${note.length})`;
$$;
CREATE FUNCTION sge_src.total(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import price from "@stopgap/sge_src/price";
export default (ctx: any) => ({ total: price(ctx).amount + 1 });
$$;
SELECT stopgap.deploy('sge', 'sge_src', 'v1') AS d1 \gset
SET ROLE sge_regress_web;
SELECT sge_live.total('{"n": 5}'), sge_live.label('{"amount": 3}');
RESET ROLE;
SELECT fn_name, imports, import_map = '{}' AS no_map FROM stopgap.fn_version WHERE deployment_id = :d1 ORDER BY 1;

-- redeploying unchanged code records nothing and returns the active deployment
SELECT count(*) AS deployments_before FROM stopgap.deployment WHERE env = 'sge' \gset
SELECT stopgap.deploy('sge', 'sge_src', 'same again') = :d1 AS same_id;
SELECT count(*) = :deployments_before AS nothing_recorded FROM stopgap.deployment WHERE env = 'sge';
-- force records a new deployment all the same
SELECT stopgap.deploy('sge', 'sge_src', 'forced', force => true) > :d1 AS new_id;
SELECT label, status FROM stopgap.deployment WHERE env = 'sge' ORDER BY id;
-- a live function changed by hand is not "unchanged": the deploy repairs it
CREATE OR REPLACE FUNCTION sge_live.total(args jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"total": -1}'::jsonb $$;
SELECT stopgap.deploy('sge', 'sge_src', 'repair') AS d3 \gset
SELECT sge_live.total('{"n": 5}');
SELECT count(*) AS problems FROM stopgap.check('sge');

-- type errors refuse a deploy, named per function with the TypeScript line and column, across
-- deployed functions' types
CREATE OR REPLACE FUNCTION sge_src.total(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import price from "@stopgap/sge_src/price";
export default (ctx: any) => {
  const p: string = price(ctx).amount;
  return { total: p };
};
$$;
CREATE OR REPLACE FUNCTION sge_src.label(args jsonb) RETURNS text LANGUAGE plts AS $$
import type { Price } from "@stopgap/sge_src/price";
export default (ctx: { args: Price }) => ctx.args.amount.toUpperCase();
$$;
SELECT stopgap.deploy('sge', 'sge_src', 'type errors');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) AS deployments FROM stopgap.deployment WHERE env = 'sge';
-- diff reports them as data, with every other problem
SELECT d->'summary' AS summary FROM stopgap.diff('sge', 'sge_src') d;
SELECT e->>'function' AS function, e->>'sqlstate' AS sqlstate, e->'position' AS position, e->>'message' AS message
  FROM stopgap.diff('sge', 'sge_src') d, jsonb_array_elements(d->'errors') e ORDER BY 1;
-- stopgap.typecheck = warn deploys and warns; off does not check
SET stopgap.typecheck = warn;
SELECT stopgap.deploy('sge', 'sge_src', 'warned') > :d3 AS deployed;
SET stopgap.typecheck = off;
SELECT stopgap.deploy('sge', 'sge_src', 'unchecked', true) > :d3 AS deployed;
RESET stopgap.typecheck;

-- a default export that is not a function is refused at deploy, not at the first call
CREATE SCHEMA sge_bad;
CREATE FUNCTION sge_bad.answer() RETURNS int LANGUAGE plts AS $$ export default 42; $$;
SELECT stopgap.deploy('sge_bad', 'sge_bad');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- a module whose top-level code never ends is stopped by stopgap.deploy_timeout_ms, named
CREATE OR REPLACE FUNCTION sge_bad.answer() RETURNS int LANGUAGE plts AS $$
while (true) {}
export default () => 42;
$$;
SET stopgap.deploy_timeout_ms = 200;
SELECT stopgap.deploy('sge_bad', 'sge_bad');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET stopgap.deploy_timeout_ms;
SELECT count(*) AS environments FROM stopgap.environment WHERE env = 'sge_bad';

-- diff goes on past the first problem: a dangling import, a cycle, a syntax error, all at once
CREATE SCHEMA sge_many;
CREATE FUNCTION sge_many.dangling() RETURNS int LANGUAGE plts AS $$
import gone from "@stopgap/sge_many/gone";
export default () => gone();
$$;
CREATE FUNCTION sge_many.ping() RETURNS int LANGUAGE plts AS $$
import pong from "@stopgap/sge_many/pong";
export default () => pong();
$$;
CREATE FUNCTION sge_many.pong() RETURNS int LANGUAGE plts AS $$
import ping from "@stopgap/sge_many/ping";
export default () => ping();
$$;
SET check_function_bodies = off;
CREATE FUNCTION sge_many.broken() RETURNS int LANGUAGE plts AS $$ export default () => 1 +; $$;
RESET check_function_bodies;
CREATE FUNCTION sge_many.fine() RETURNS int LANGUAGE plts AS $$ export default () => 1; $$;
SELECT d->'summary' AS summary FROM stopgap.diff('sge_many', 'sge_many') d;
SELECT coalesce(e->>'function', '(schema)') AS function, e->>'sqlstate' AS sqlstate, e->'position' AS position,
       e->>'message' AS message
  FROM stopgap.diff('sge_many', 'sge_many') d, jsonb_array_elements(d->'errors') e ORDER BY 1, 4;
SELECT f->>'fn_name' AS fn_name, f->>'change' AS change, f ? 'artifact_hash' AS compiled
  FROM stopgap.diff('sge_many', 'sge_many') d, jsonb_array_elements(d->'functions') f ORDER BY 1;
-- a deploy raises the first of them and leaves nothing
SELECT stopgap.deploy('sge_many', 'sge_many');
SELECT count(*) AS environments FROM stopgap.environment WHERE env = 'sge_many';

-- log lines are one line: no PL/pgSQL context
SET stopgap.typecheck = off;
SET client_min_messages = log;
\set SHOW_CONTEXT always
SELECT stopgap.deploy('sge', 'sge_src', 'one line', true) IS NOT NULL AS deployed;
\set SHOW_CONTEXT never
RESET client_min_messages;
RESET stopgap.typecheck;

SELECT count(stopgap.drop_environment(env)) AS dropped FROM stopgap.environment WHERE env LIKE 'sge%';
DROP SCHEMA sge_src, sge_bad, sge_many CASCADE;
DROP ROLE sge_regress_web;
