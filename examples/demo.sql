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
