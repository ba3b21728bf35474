-- The README's example: TypeScript functions in a source schema, deployed with stopgap into a
-- live schema that application SQL calls; then a new version, and an instant rollback.
\set ON_ERROR_STOP 1
CREATE EXTENSION plts;
CREATE EXTENSION stopgap;

CREATE SCHEMA app;
CREATE TABLE app.orders(id int PRIMARY KEY, customer text, amount numeric);
INSERT INTO app.orders VALUES (1, 'ada', 12.50), (2, 'ada', 7.25), (3, 'linus', 99.99);

-- Source: a @stopgap/runtime query with validated, typed arguments.
CREATE FUNCTION app.customer_summary(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";

export default query(v.object({ customer: v.string() }), async (args, ctx) => {
  const [row] = await ctx.db.query<{ orders: number; total: string }>(
    "select count(*)::int as orders, coalesce(sum(amount), 0)::text as total from app.orders where customer = $1",
    [args.customer]);
  return { customer: args.customer, ...row };
});
$$;

\echo
SELECT plts.version() AS plts, stopgap.version() AS stopgap;
\echo '== deploy v1 to env "prod" (live schema live_deployment)'
SELECT stopgap.deploy('prod', 'app', 'v1') AS deployment;
SELECT live_deployment.customer_summary('{"customer": "ada"}') AS v1_result;

\echo '== change the source, deploy v2'
CREATE OR REPLACE FUNCTION app.customer_summary(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";

export default query(v.object({ customer: v.string() }), async (args, ctx) => {
  const rows = await ctx.db.query("select amount::float8 as amount from app.orders where customer = $1",
                                  [args.customer]);
  const total = rows.reduce((sum, r) => sum + r.amount, 0);
  return { customer: args.customer, orders: rows.length, average: rows.length ? total / rows.length : null };
});
$$;
SELECT stopgap.deploy('prod', 'app', 'v2') AS deployment;
SELECT live_deployment.customer_summary('{"customer": "ada"}') AS v2_result;

\echo '== roll back to v1'
SELECT stopgap.rollback('prod') AS active_deployment;
SELECT live_deployment.customer_summary('{"customer": "ada"}') AS after_rollback;
SELECT jsonb_pretty(stopgap.status('prod')) AS status;

\echo '== schedule it: every minute, as an application role, and one run now (docs/SCHEDULES.md)'
CREATE ROLE demo_app NOLOGIN IN ROLE app_user;
GRANT USAGE ON SCHEMA app TO app_user;
GRANT SELECT ON app.orders TO app_user;
SELECT name, state, schedule, next_run_at
  FROM jsonb_populate_record(NULL::stopgap.schedules,
         stopgap.schedule('prod', 'ada-summary', 'customer_summary', '* * * * *',
                          '{"customer": "ada"}', '{"run_as": "demo_app"}'));
SELECT stopgap.run_now('prod', 'ada-summary') ->> 'state' AS state;
DO $$ BEGIN  -- the scheduler's background worker runs it within milliseconds; wait up to 10 s
  FOR i IN 1..200 LOOP
    EXIT WHEN EXISTS (SELECT FROM stopgap.job_run WHERE job_name = 'ada-summary' AND status <> 'running');
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT job_name, status, result, round(duration_ms::numeric, 1) AS ms FROM stopgap.job_run WHERE job_name = 'ada-summary';
SELECT stopgap.unschedule('prod', 'ada-summary') AS unscheduled;
