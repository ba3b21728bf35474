-- The README's example: a TypeScript function in the database, called from SQL.
\set ON_ERROR_STOP 1
CREATE EXTENSION plts;
CREATE EXTENSION stopgap;

CREATE SCHEMA app;
CREATE TABLE app.orders(id int PRIMARY KEY, customer text, amount numeric);
INSERT INTO app.orders VALUES (1, 'ada', 12.50), (2, 'ada', 7.25), (3, 'linus', 99.99);

CREATE FUNCTION app.customer_summary(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";

export default query(v.object({ customer: v.string() }), async (args, ctx) => {
  const rows = await ctx.db.query<{ n: number; total: string }>(
    "select count(*)::int as n, coalesce(sum(amount), 0)::text as total from app.orders where customer = $1",
    [args.customer]);
  return { customer: args.customer, orders: rows[0].n, total: rows[0].total };
});
$$;

\echo
SELECT plts.version() AS plts, stopgap.version() AS stopgap;
SELECT app.customer_summary('{"customer": "ada"}') AS result;
