-- plts.metrics(): this backend's counters, and plts.log_level.
CREATE FUNCTION m_ok() RETURNS int LANGUAGE plts AS $$ export default () => 1 $$;
CREATE FUNCTION m_throw() RETURNS int LANGUAGE plts AS $$ export default () => { throw new Error('x') } $$;
CREATE FUNCTION m_sql() RETURNS int LANGUAGE plts AS $$ export default async (c: any) => (await c.db.query('select 1/0 as x'))[0].x $$;
CREATE FUNCTION m_stack() RETURNS int LANGUAGE plts AS $$ const f = (n: number): number => f(n + 1) + 1; export default () => f(0) $$;
CREATE FUNCTION m_loop() RETURNS int LANGUAGE plts AS $$ export default () => { for (;;) {} } $$;
SELECT plts.metrics() AS m0 \gset
SELECT sum(m_ok()) FROM generate_series(1, 10);
SELECT m_throw();
SELECT m_sql();
SELECT m_stack();
SET statement_timeout = '100ms';
SELECT m_loop();
RESET statement_timeout;
SET plts.max_runtime_ms = 100;
SELECT m_loop();
RESET plts.max_runtime_ms;
WITH m AS (SELECT plts.metrics() AS m1, :'m0'::jsonb AS m0)
SELECT (m1->>'calls')::int - (m0->>'calls')::int AS calls,
       (m1->>'errors')::int - (m0->>'errors')::int AS errors,
       (m1->'error_classes'->>'js_exception')::int - (m0->'error_classes'->>'js_exception')::int AS js_exception,
       (m1->'error_classes'->>'sql_error')::int - (m0->'error_classes'->>'sql_error')::int AS sql_error,
       (m1->'error_classes'->>'stack')::int - (m0->'error_classes'->>'stack')::int AS stack,
       (m1->'error_classes'->>'timeout')::int - (m0->'error_classes'->>'timeout')::int AS timeout,
       (m1->'db'->>'calls')::int - (m0->'db'->>'calls')::int AS db_calls,
       (m1->'latency_us'->>'total')::bigint >= (m0->'latency_us'->>'total')::bigint AS latency_grows,
       (m1->'latency_us'->>'max')::bigint >= (m1->'latency_us'->>'last')::bigint AS max_ge_last,
       (m1->>'contexts')::int >= 1 AS has_context,
       m1 ? 'function_cache' AND m1 ? 'plan_cache' AND m1 ? 'compiler' AS has_sections
FROM m;
-- plts.log_level: superuser-only, and gates plts's own lines
SHOW plts.log_level;
SET plts.log_level = warning;
SET plts.log_level = nonsense;
RESET plts.log_level;
DROP FUNCTION m_ok(), m_throw(), m_sql(), m_stack(), m_loop();
