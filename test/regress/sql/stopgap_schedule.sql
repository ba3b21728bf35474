-- Schedules (issue 17): stopgap.schedule and its errors, the stopgap.schedules view, pause, resume,
-- run_now, next run times of cron expressions in time zones, and one step of the scheduler
-- (_sched_tick, _sched_finish) on a fixed clock. The background worker that runs schedules is
-- tested in test/pg (scheduler_test.cpp); the claim/lease/retry/quota rules in the contract tests.
-- The clock is set far in the future (stopgap.scheduler_clock): the real worker, on the real
-- clock, finds nothing due.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS stopgap CASCADE;
SELECT stopgap.create_environment('sched', 'sched_live');
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sched_reg_app') THEN CREATE ROLE sched_reg_app NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sched_reg_stranger') THEN CREATE ROLE sched_reg_stranger NOLOGIN; END IF;
END $$;
GRANT app_user TO sched_reg_app;
SELECT stopgap.deploy_project('sched', $${"modules": {
  "jobs.ts": "import { mutation, v } from \"@stopgap/runtime\";\nexport const ping = mutation(v.object({}), async () => ({ pong: true }));\nexport const other = mutation(v.object({}), async () => 1);\n"
}}$$)->'summary' AS summary;
CREATE SCHEMA sched_src;
CREATE FUNCTION sched_src.add(a int, b int) RETURNS int LANGUAGE plts AS $$ export default (ctx) => ctx.args.a + ctx.args.b; $$;
CREATE FUNCTION sched_src.nightly() RETURNS jsonb LANGUAGE plts AS $$ export default () => ({ ran: true }); $$;
SELECT stopgap.create_environment('sched_schema', 'sched_schema_live');
SELECT stopgap.deploy('sched_schema', 'sched_src') IS NOT NULL AS deployed;

-- errors through public.sqlstate_of (helpers.sql)

SET stopgap.scheduler_clock = '2030-01-01 00:00:00+00';
SET TIME ZONE 'UTC';

-- errors: each with its SQLSTATE, nothing created
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '61 * * * *', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '* * *', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '0 seconds', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "sched_reg_app", "retries": 3}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "sched_reg_app", "max_attempts": 0}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '0 9 * * *', '{}', '{"run_as": "sched_reg_app", "time_zone": "Mars/Olympus"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.pong', '1 minute', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('nowhere', 'a', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute')$$);  -- as the superuser
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "no_such_role_x"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "sched_reg_stranger"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'bad name!', 'api.jobs.ping', '1 minute', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute', '[1]', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched_schema', 'a', 'add', '1 minute', '{}', '{"run_as": "sched_reg_app"}')$$);
SELECT public.sqlstate_of($$SELECT stopgap.unschedule('sched', 'nope')$$);
SELECT public.sqlstate_of($$SELECT stopgap.pause('sched', 'nope')$$);
SET ROLE sched_reg_app;
SELECT public.sqlstate_of($$SELECT stopgap.schedule('sched', 'a', 'api.jobs.ping', '1 minute')$$);
SELECT public.sqlstate_of($$SELECT * FROM stopgap.job_run$$);
RESET ROLE;
SELECT count(*) AS jobs_after_errors FROM stopgap.job;

-- a cron schedule, an interval, a schema-deployed function by name, a time zone
SELECT s->>'state' AS state, s->>'next_run_at' AS next_run_at, s->>'owner' AS owner, s->'options' AS options
  FROM stopgap.schedule('sched', 'quarterly', 'api.jobs.ping', '*/15 * * * *', '{}', '{"run_as": "sched_reg_app"}') s;
SELECT s->>'next_run_at' AS next_run_at
  FROM stopgap.schedule('sched', 'sync', 'api.jobs.ping', '30 seconds', '{"x": 1}',
                        '{"run_as": "sched_reg_app", "max_attempts": 5, "backoff_base": "2 seconds", "max_runtime": 500, "quota": {"runs": 10, "per": "1 hour"}}') s;
SELECT s->>'next_run_at' AS next_run_at
  FROM stopgap.schedule('sched_schema', 'nightly', 'nightly', '0 9 * * *', '{}',
                        '{"run_as": "sched_reg_app", "time_zone": "America/New_York"}') s;
SELECT env, name, target, schedule, time_zone, state, next_run_at, last_status, runs, args, options->'quota' AS quota
  FROM stopgap.schedules ORDER BY env, name;

-- next run times: cron in a zone across the spring-forward gap (02:30 does not exist in New York on
-- 2030-03-10: the next day's 02:30 EDT), 6 fields with seconds, an impossible date
SELECT stopgap._sched_next('30 2 * * *', 'America/New_York', '2030-03-10 05:00+00') AS dst_gap,
       stopgap._sched_next('*/20 * * * * *', 'UTC', '2030-01-01 00:00:05+00') AS seconds,
       stopgap._sched_next('0 0 30 2 *', 'UTC', '2030-01-01 00:00+00') AS never,
       stopgap._sched_next('0 12 * * MON', 'UTC', '2030-01-01 00:00+00') AS monday;

-- pause, resume, run_now
SELECT s->>'state' AS paused FROM stopgap.pause('sched', 'sync') s;
SELECT s->>'state' AS resumed, s->>'next_run_at' AS next_run_at FROM stopgap.resume('sched', 'sync') s;

-- one step of the scheduler at 00:15 (quarterly is due, sync is due, nightly is not), inside one
-- transaction so that no worker sees a claim before it is finished
BEGIN;
SET LOCAL stopgap.scheduler_clock = '2030-01-01 00:15:00+00';
SELECT t->'reaped' AS reaped, t->'skipped' AS skipped,
       jsonb_path_query_array(t, '$.claims[*].name') AS claimed,
       jsonb_path_query_array(t, '$.claims[*].attempt') AS attempts
  FROM stopgap._sched_tick(4242, 10, '{4242}') t;
SELECT jsonb_array_length(stopgap._sched_tick(4243, 10, '{4242,4243}')->'claims') AS claimed_again;  -- leased
SELECT stopgap._sched_finish(r.id, '{"status": "ok", "result": {"pong": true}}') AS after_ok
  FROM stopgap.job_run r WHERE r.job_name = 'quarterly';
SELECT stopgap._sched_finish(r.id, '{"status": "error", "message": "boom", "sqlstate": "P0001"}', 0.5) AS after_error
  FROM stopgap.job_run r WHERE r.job_name = 'sync';
SELECT job_name, status, attempt, deployment_id IS NOT NULL AS has_deployment, worker_pid, error_message, sqlstate, result
  FROM stopgap.job_run ORDER BY id;
-- run_now: claimed although not due; a finished run of a paused job leaves it paused
SELECT stopgap.pause('sched', 'quarterly')->>'state' AS state;
SELECT stopgap.run_now('sched', 'quarterly')->>'state' AS state;
SELECT jsonb_path_query_array(stopgap._sched_tick(4242, 10, '{4242}'), '$.claims[*].name') AS claimed;
SELECT stopgap._sched_finish(r.id, '{"status": "ok"}')->>'state' AS state_after_run
  FROM stopgap.job_run r WHERE r.job_name = 'quarterly' AND r.status = 'running';
-- a worker that died: its run is lost at the next tick and the job moves as after a failure
SELECT stopgap.resume('sched', 'quarterly')->>'state' AS state;
SET LOCAL stopgap.scheduler_clock = '2030-01-01 00:30:00+00';
SELECT jsonb_path_query_array(stopgap._sched_tick(4242, 10, '{4242}'), '$.claims[*].name') AS claimed;
SELECT stopgap._sched_tick(4243, 10, '{4243}')->'reaped' AS reaped;
SELECT name, state, attempt, failures_in_row FROM stopgap.schedules WHERE env = 'sched' ORDER BY name;
SELECT job_name, status, error_message FROM stopgap.job_run WHERE status = 'lost';
COMMIT;

-- a deploy without the target: the next tick marks the schedule missing; deploying it back revives it
BEGIN;
SET LOCAL stopgap.scheduler_clock = '2030-01-02 00:00:00+00';
SELECT stopgap.deploy_project('sched', $${"modules": {
  "jobs.ts": "import { mutation, v } from \"@stopgap/runtime\";\nexport const other = mutation(v.object({}), async () => 1);\n"
}}$$, 'without ping', '{"prune": true}')->'summary' AS summary;
SELECT jsonb_path_query_array(stopgap._sched_tick(4242, 10, '{4242}'), '$.claims[*].name') AS claimed;  -- only the other environment's job
SELECT name, state, state_reason FROM stopgap.schedules WHERE env = 'sched' ORDER BY name;
SELECT stopgap.rollback('sched') IS NOT NULL AS rolled_back;
SELECT jsonb_path_query_array(stopgap._sched_tick(4242, 10, '{4242}'), '$.claims[*].name') AS claimed_after_rollback;
SELECT name, state FROM stopgap.schedules WHERE env = 'sched' ORDER BY name;
ROLLBACK;

-- real runs by the background worker (the clock setting does not reach it): the function runs as
-- the owner role (here a deployer), in a security-restricted user change it cannot leave: it cannot
-- change role or session authorization, read files, create objects it may not, create temporary
-- tables that would outlive it, or act as a role it is not a member of through stopgap itself; a
-- session-level SET it makes is undone after it (the second run starts from the same search_path);
-- a deferrable foreign key is checked at once (a restricted operation cannot defer it), and the
-- rows it inserts commit with the run.
RESET stopgap.scheduler_clock;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sched_reg_dep') THEN CREATE ROLE sched_reg_dep NOLOGIN; END IF;
END $$;
GRANT app_user, stopgap_deployer TO sched_reg_dep;
CREATE TABLE public.sched_parent (id int PRIMARY KEY);
CREATE TABLE public.sched_child (id int PRIMARY KEY,
  parent int REFERENCES public.sched_parent DEFERRABLE INITIALLY DEFERRED);
INSERT INTO public.sched_parent VALUES (1);
GRANT SELECT, INSERT ON public.sched_parent, public.sched_child TO app_user;
SELECT stopgap.deploy_project('sched', $${"modules": {
  "jobs.ts": "import { mutation, v } from \"@stopgap/runtime\";\nexport const ping = mutation(v.object({}), async () => ({ pong: true }));\nexport const other = mutation(v.object({}), async () => 1);\n",
  "esc.ts": "import { mutation, v } from \"@stopgap/runtime\";\nexport const esc = mutation(v.object({ n: v.int() }), async ({ n }, ctx) => {\n  const [start] = await ctx.db.query(\"select current_setting('search_path') as sp\");\n  const out: Record<string, string> = {};\n  for (const sql of ['set role postgres', 'reset role', 'set session authorization postgres', \"select pg_read_file('/etc/passwd')\", 'create table public.sched_esc(x int)', 'create temp table sched_tmp(x int)', \"select stopgap.schedule('sched', 'esc2', 'api.esc.esc', '1 hour', '{}', '{\\\"run_as\\\": \\\"sched_reg_app\\\"}')\", \"select set_config('search_path', 'pg_temp, public', false)\", 'insert into public.sched_child select coalesce(max(id), 0) + 1, 1 from public.sched_child']) {\n    try { await ctx.db.exec(sql); out[sql.slice(0, 30)] = 'ok'; } catch (e: any) { out[sql.slice(0, 30)] = e.sqlstate; }\n  }\n  const [who] = await ctx.db.query(\"select current_user as cu, current_setting('application_name') as app\");\n  return { start: start.sp, out, who };\n});\n"
}}$$)->'summary' AS summary;
SELECT stopgap.schedule('sched', 'esc', 'api.esc.esc', '0 0 1 1 *', '{"n": 1}', '{"run_as": "sched_reg_dep"}')->>'state' AS state;
SELECT stopgap.run_now('sched', 'esc')->>'state' AS state;
DO $$ BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN EXISTS (SELECT FROM stopgap.job_run WHERE job_name = 'esc' AND status <> 'running');
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT stopgap.run_now('sched', 'esc')->>'state' AS state;
DO $$ BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN (SELECT count(*) FROM stopgap.job_run WHERE job_name = 'esc' AND status <> 'running') >= 2;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT status, jsonb_pretty(result) AS result FROM stopgap.job_run WHERE job_name = 'esc' ORDER BY id;
SELECT count(*) AS children FROM public.sched_child;
SELECT count(*) AS esc2_schedules FROM stopgap.job WHERE name = 'esc2';
SELECT stopgap.unschedule('sched', 'esc') AS unscheduled;
DROP TABLE public.sched_child, public.sched_parent;
SET stopgap.scheduler_clock = '2030-01-01 00:00:00+00';

-- unschedule; drop_environment drops an environment's schedules with it
SELECT stopgap.unschedule('sched', 'quarterly') AS unscheduled;
SELECT stopgap.drop_environment('sched_schema') IS NOT NULL AS dropped;
SELECT env, name FROM stopgap.schedules ORDER BY env, name;
SELECT stopgap.unschedule('sched', 'sync') AS unscheduled;
SELECT count(*) AS runs_left FROM stopgap.job_run;
RESET stopgap.scheduler_clock;
