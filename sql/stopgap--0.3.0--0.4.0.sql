-- stopgap 0.3.0 -> 0.4.0: schedules (issue 17). A fresh CREATE EXTENSION runs stopgap--0.1.0.sql
-- and the update scripts in order.
--
-- A schedule (stopgap.job) runs a function of an environment's active deployment, named by path or
-- name, on a cron expression or an interval, as the schedule's owner role. Background workers
-- (scheduler_worker.cpp) claim due jobs with FOR UPDATE SKIP LOCKED through stopgap._sched_tick,
-- run each in its own transaction and record it with stopgap._sched_finish; every run is a row of
-- stopgap.job_run. The decisions (next run times, backoff, adaptive cadence, the state machine) are
-- the C++ core's (schedule_logic.cpp), reached through the _sched_* C functions below.

\echo Use "ALTER EXTENSION stopgap UPDATE TO '0.4.0'" to load this file. \quit

CREATE TABLE stopgap.job (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  env text NOT NULL REFERENCES stopgap.environment (env) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}$'),
  target text NOT NULL,               -- a path (api.jobs.sync) or a function name of the environment
  schedule text NOT NULL,             -- a cron expression or an interval, as written
  time_zone text NOT NULL DEFAULT 'UTC',
  args jsonb NOT NULL DEFAULT '{}',
  options jsonb NOT NULL DEFAULT '{}',  -- normalized by stopgap._sched_parse
  owner name NOT NULL,                -- the role runs execute as (never a superuser)
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'dead', 'missing')),
  state_reason text,
  next_run_at timestamptz,
  attempt integer NOT NULL DEFAULT 0,          -- failed attempts of the current occurrence
  failures_in_row integer NOT NULL DEFAULT 0,  -- failed runs since the last success
  run_requested boolean NOT NULL DEFAULT false,  -- stopgap.run_now
  claimed_by integer,                 -- the worker running it now (pid) ...
  claim_until timestamptz,            -- ... until its lease ends
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by name NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (env, name)
);
COMMENT ON TABLE stopgap.job IS 'stopgap schedules: what runs when, as whom, and where each stands';
CREATE INDEX job_due ON stopgap.job (next_run_at, id) WHERE state = 'active';
CREATE INDEX job_requested ON stopgap.job (id) WHERE run_requested;
CREATE INDEX job_missing ON stopgap.job (id) WHERE state = 'missing';

CREATE TABLE stopgap.job_run (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES stopgap.job (id) ON DELETE CASCADE,
  env text NOT NULL,
  job_name text NOT NULL,
  deployment_id bigint,               -- the active deployment the run called
  attempt integer NOT NULL,           -- 1: the first attempt of an occurrence
  scheduled_for timestamptz,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  duration_ms double precision,
  status text NOT NULL CHECK (status IN ('running', 'ok', 'error', 'timeout', 'skipped', 'lost')),
  reason text,                        -- why a run was skipped (quota)
  error_message text,
  sqlstate text,
  result jsonb,                       -- the function's result (a summary when larger than 2 kB)
  cost double precision,              -- the cost the function reported ({"cost": n})
  worker_pid integer,
  lease_until timestamptz
);
COMMENT ON TABLE stopgap.job_run IS 'one row per run of a schedule; older than stopgap.job_run_retention are deleted';
CREATE INDEX job_run_job ON stopgap.job_run (job_id, started_at);
-- At most one run of a job is running: a job is claimed again only once its run ended (finished,
-- or reaped as lost, which a run in progress prevents by holding its row's lock).
CREATE UNIQUE INDEX job_run_running ON stopgap.job_run (job_id) WHERE status = 'running';
CREATE INDEX job_run_finished ON stopgap.job_run (finished_at);

SELECT pg_catalog.pg_extension_config_dump('stopgap.job', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.job_run_id_seq', '');

CREATE VIEW stopgap.schedules AS
SELECT j.env, j.name, j.target, j.schedule, j.time_zone, j.state, j.state_reason, j.next_run_at,
       l.started_at AS last_run_at, l.status AS last_status, l.error_message AS last_error,
       j.failures_in_row, j.attempt, j.owner, j.args, j.options,
       (SELECT count(*) FROM stopgap.job_run r WHERE r.job_id = j.id) AS runs
  FROM stopgap.job j
  LEFT JOIN LATERAL (SELECT r.started_at, r.status, r.error_message FROM stopgap.job_run r
                      WHERE r.job_id = j.id ORDER BY r.id DESC LIMIT 1) l ON true;

-- The C side (schedule_sql.cpp).
-- The scheduler's clock: stopgap.scheduler_clock when set (tests), else the current time.
CREATE FUNCTION stopgap._sched_now() RETURNS timestamptz
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'stopgap_sched_now';
-- A schedule and its options checked: {"kind": "cron" | "interval", "options": {normalized}}; 22023.
CREATE FUNCTION stopgap._sched_parse(schedule text, options jsonb) RETURNS jsonb
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'stopgap_sched_parse';
-- The schedule's first time strictly after `after` (NULL: none within 5 years).
CREATE FUNCTION stopgap._sched_next(schedule text, time_zone text, after timestamptz) RETURNS timestamptz
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'stopgap_sched_next';
-- What a finished run (status, result) does to its job: {state, next_run_at, attempt, failures_in_row}.
CREATE FUNCTION stopgap._sched_after_run(schedule text, time_zone text, options jsonb, state text,
                                         attempt integer, failures_in_row integer, status text,
                                         result jsonb, now timestamptz, random01 double precision)
  RETURNS jsonb LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'stopgap_sched_after_run';
-- Wakes (and launches, if none runs) this database's scheduler workers when the transaction commits.
CREATE FUNCTION stopgap._sched_wake() RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'stopgap_sched_wake';
-- Launches this database's scheduler workers that are not running; returns how many it launched.
CREATE FUNCTION stopgap.start_scheduler() RETURNS integer
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'stopgap_start_scheduler';

-- The next `count` times a schedule names after `after`, to check an expression before using it.
CREATE FUNCTION stopgap.next_runs(schedule text, time_zone text DEFAULT 'UTC', count integer DEFAULT 5,
                                  after timestamptz DEFAULT now()) RETURNS SETOF timestamptz
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t timestamptz := after;
BEGIN
  FOR i IN 1..least(coalesce(count, 5), 1000) LOOP
    t := stopgap._sched_next(schedule, coalesce(time_zone, 'UTC'), t);
    EXIT WHEN t IS NULL;
    RETURN NEXT t;
  END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION stopgap.next_runs(text, text, integer, timestamptz) TO PUBLIC;

-- The function a schedule's target names in the environment's active deployment: its path first,
-- else a function name. {live_schema, fn_name, deployment_id, arg_style ('jsonb' | 'none'; NULL
-- when it cannot be scheduled), problem}; NULL when there is none.
CREATE FUNCTION stopgap._sched_target(env text, target text) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  RETURN (SELECT jsonb_build_object(
                   'live_schema', e.live_schema, 'fn_name', v.fn_name, 'deployment_id', e.active_deployment_id,
                   'arg_style', CASE WHEN v.routine <> 'function' OR v.result IS NULL
                                       OR v.result ~ '^(SETOF |TABLE\()' OR v.result = 'trigger'
                                       OR v.result = 'event_trigger' THEN NULL
                                     WHEN v.identity_types = '' THEN 'none'
                                     WHEN v.identity_types = 'jsonb' THEN 'jsonb' END,
                   'signature', v.signature)
            FROM stopgap.environment e
            JOIN stopgap.fn_version v ON v.deployment_id = e.active_deployment_id
           WHERE e.env = _sched_target.env
             AND (v.path = _sched_target.target OR v.fn_name = _sched_target.target)
           ORDER BY v.path IS NOT DISTINCT FROM _sched_target.target DESC
           LIMIT 1);

-- A schedule as stopgap.schedules shows it, as jsonb.
CREATE FUNCTION stopgap._schedule_row(env text, name text) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  RETURN (SELECT to_jsonb(s) FROM stopgap.schedules s WHERE s.env = _schedule_row.env AND s.name = _schedule_row.name);

-- The job row of env/name, locked; 42704 when there is none.
CREATE FUNCTION stopgap._job(env text, name text) RETURNS stopgap.job
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  j stopgap.job;
BEGIN
  SELECT * INTO j FROM stopgap.job x WHERE x.env = _job.env AND x.name = _job.name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'schedule "%" does not exist in stopgap environment "%"', name, env
      USING ERRCODE = 'undefined_object',
            HINT = 'SELECT name FROM stopgap.schedules WHERE env = ' || quote_literal(env) || ' lists them.';
  END IF;
  -- Its runs execute as its owner: managing it (running it now included) needs what creating it did.
  IF NOT pg_has_role(stopgap._calling_role(), j.owner, 'MEMBER') THEN
    RAISE EXCEPTION 'role "%" may not manage schedule "%": its runs execute as "%", and "%" is not a member of that role',
                    stopgap._calling_role(), name, j.owner, stopgap._calling_role()
      USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT %I TO %I;', j.owner, stopgap._calling_role());
  END IF;
  RETURN j;
END
$$;

-- Moves a job as after_run decided (d: {state, next_run_at, attempt, failures_in_row}) and ends its claim.
CREATE FUNCTION stopgap._sched_apply(job_id bigint, d jsonb, now timestamptz) RETURNS void
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
  BEGIN ATOMIC
    UPDATE stopgap.job SET state = d->>'state', next_run_at = (d->>'next_run_at')::timestamptz,
                           attempt = (d->>'attempt')::integer, failures_in_row = (d->>'failures_in_row')::integer,
                           state_reason = CASE WHEN d->>'state' = 'dead' AND state <> 'dead'
                                               THEN format('failed %s times in a row', d->>'failures_in_row')
                                               ELSE state_reason END,
                           claimed_by = NULL, claim_until = NULL, updated_at = now
     WHERE id = job_id;
  END;

-- The calling role, when it may manage schedules (a member of stopgap_deployer) and the server
-- can write; 42501 / 25006 otherwise.
-- Moves a job after a run ended (status, result) as _sched_after_run decides; returns the decision.
-- A job the decision cannot be made for (its stored schedule or options no longer parse) is paused
-- with the reason, instead of failing the scheduler's step for every other job.
CREATE FUNCTION stopgap._sched_move(j stopgap.job, status text, result jsonb, now timestamptz,
                                    random01 double precision) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d jsonb;
BEGIN
  BEGIN
    d := stopgap._sched_after_run(j.schedule, j.time_zone, j.options, j.state, j.attempt, j.failures_in_row,
                                  status, result, now, random01);
  EXCEPTION WHEN OTHERS THEN
    UPDATE stopgap.job x SET state = 'paused', state_reason = 'the scheduler could not plan its next run: ' || SQLERRM,
                             next_run_at = NULL, claimed_by = NULL, claim_until = NULL, updated_at = now
     WHERE x.id = j.id;
    RETURN jsonb_build_object('state', 'paused', 'next_run_at', NULL, 'attempt', j.attempt,
                              'failures_in_row', j.failures_in_row);
  END;
  PERFORM stopgap._sched_apply(j.id, d, now);
  RETURN d;
END
$$;

CREATE FUNCTION stopgap._sched_authorize(action text) RETURNS name
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  caller name := stopgap._calling_role();
BEGIN
  IF NOT pg_has_role(caller, 'stopgap_deployer', 'MEMBER') THEN
    RAISE EXCEPTION 'role "%" may not % with stopgap: it is not a member of stopgap_deployer', caller, action
      USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT stopgap_deployer TO %I;', caller);
  END IF;
  PERFORM stopgap._require_writable(action);
  RETURN caller;
END
$$;

CREATE FUNCTION stopgap.schedule(env text, name text, target text, schedule text,
                                 args jsonb DEFAULT '{}', options jsonb DEFAULT '{}') RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  caller name := stopgap._sched_authorize('schedule');
  now_ timestamptz := stopgap._sched_now();
  p jsonb;
  o jsonb;
  owner_role name;
  t jsonb;
  live_fn text;
  nxt timestamptz;
BEGIN
  env := stopgap._env_name(env);
  IF name IS NULL OR name !~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}$' THEN
    RAISE EXCEPTION 'invalid schedule name "%"', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Schedule names are 1-63 letters, digits, ''_'', ''.'', '':'' or ''-''.';
  END IF;
  IF target IS NULL OR schedule IS NULL THEN
    RAISE EXCEPTION 'a schedule needs a target function and a schedule' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
    RAISE EXCEPTION 'a schedule''s args must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  p := stopgap._sched_parse(schedule, coalesce(options, '{}'));
  o := p->'options';
  owner_role := coalesce(o->>'run_as', caller);
  IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = owner_role) THEN
    RAISE EXCEPTION 'role "%" does not exist', owner_role USING ERRCODE = 'undefined_object';
  END IF;
  IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = owner_role) THEN
    RAISE EXCEPTION 'schedule "%" would run as "%", a superuser', name, owner_role
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Scheduled runs execute as the schedule''s owner role, never as a superuser.',
            HINT = 'Pass options => ''{"run_as": "<role>"}'' naming an application role (a member of app_user).';
  END IF;
  IF NOT pg_has_role(caller, owner_role, 'MEMBER') THEN
    RAISE EXCEPTION 'role "%" may not schedule runs as "%": it is not a member of that role', caller, owner_role
      USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT %I TO %I;', owner_role, caller);
  END IF;
  IF NOT EXISTS (SELECT FROM stopgap.environment e WHERE e.env = schedule.env) THEN
    RAISE EXCEPTION 'stopgap environment "%" does not exist', env
      USING ERRCODE = 'undefined_object', HINT = 'Deploy to it first.';
  END IF;
  t := stopgap._sched_target(env, target);
  IF t IS NULL THEN
    RAISE EXCEPTION 'no function "%" in the active deployment of stopgap environment "%"', target, env
      USING ERRCODE = 'undefined_function',
            HINT = 'Name a project function by its path (api.jobs.sync) or a deployed function by its name; stopgap.status(env) lists them.';
  END IF;
  IF t->>'arg_style' IS NULL THEN
    RAISE EXCEPTION 'cannot schedule %: a scheduled function takes no arguments or one jsonb and returns one value', t->>'signature'
      USING ERRCODE = 'wrong_object_type';
  END IF;
  live_fn := format('%I.%I(%s)', t->>'live_schema', t->>'fn_name', CASE WHEN t->>'arg_style' = 'jsonb' THEN 'jsonb' ELSE '' END);
  IF NOT has_function_privilege(owner_role, live_fn, 'EXECUTE') THEN
    RAISE EXCEPTION 'role "%" may not execute %', owner_role, live_fn
      USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT app_user TO %I;', owner_role);
  END IF;
  nxt := stopgap._sched_next(schedule, o->>'time_zone', now_);
  INSERT INTO stopgap.job AS j (env, name, target, schedule, time_zone, args, options, owner, next_run_at,
                                created_at, created_by, updated_at)
  VALUES (env, name, target, schedule, o->>'time_zone', args, o, owner_role, nxt, now_, caller, now_)
  ON CONFLICT ON CONSTRAINT job_env_name_key DO UPDATE
    SET target = excluded.target, schedule = excluded.schedule, time_zone = excluded.time_zone,
        args = excluded.args, options = excluded.options, owner = excluded.owner, state = 'active',
        state_reason = NULL, next_run_at = excluded.next_run_at, attempt = 0, failures_in_row = 0,
        updated_at = excluded.updated_at;
  PERFORM stopgap._sched_wake();
  RETURN stopgap._schedule_row(env, name);
END
$$;

CREATE FUNCTION stopgap.unschedule(env text, name text) RETURNS boolean
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  j stopgap.job;
BEGIN
  PERFORM stopgap._sched_authorize('unschedule');
  j := stopgap._job(stopgap._env_name(env), name);
  DELETE FROM stopgap.job x WHERE x.id = j.id;
  PERFORM stopgap._sched_wake();
  RETURN true;
END
$$;

CREATE FUNCTION stopgap.pause(env text, name text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  j stopgap.job;
BEGIN
  PERFORM stopgap._sched_authorize('pause a schedule');
  j := stopgap._job(stopgap._env_name(env), name);
  UPDATE stopgap.job x SET state = 'paused', state_reason = 'paused by ' || stopgap._calling_role(),
                           run_requested = false, updated_at = stopgap._sched_now()
   WHERE x.id = j.id AND x.state IN ('active', 'paused', 'missing');
  RETURN stopgap._schedule_row(j.env, j.name);
END
$$;

-- Resumes a paused or dead schedule: its failures forgotten, its next run the schedule's next time.
CREATE FUNCTION stopgap.resume(env text, name text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  j stopgap.job;
  now_ timestamptz := stopgap._sched_now();
BEGIN
  PERFORM stopgap._sched_authorize('resume a schedule');
  j := stopgap._job(stopgap._env_name(env), name);
  UPDATE stopgap.job x SET state = 'active', state_reason = NULL, attempt = 0, failures_in_row = 0,
                           next_run_at = stopgap._sched_next(j.schedule, j.time_zone, now_), updated_at = now_
   WHERE x.id = j.id AND x.state IN ('paused', 'dead');
  PERFORM stopgap._sched_wake();
  RETURN stopgap._schedule_row(j.env, j.name);
END
$$;

-- Runs a schedule once as soon as a worker is free, whatever its state (a missing target excepted).
CREATE FUNCTION stopgap.run_now(env text, name text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  j stopgap.job;
BEGIN
  PERFORM stopgap._sched_authorize('run a schedule');
  j := stopgap._job(stopgap._env_name(env), name);
  IF j.state = 'missing' THEN
    RAISE EXCEPTION 'schedule "%" cannot run: %', name, j.state_reason USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE stopgap.job x SET run_requested = true, updated_at = stopgap._sched_now() WHERE x.id = j.id;
  PERFORM stopgap._sched_wake();
  RETURN stopgap._schedule_row(j.env, j.name);
END
$$;

-- A run's result as job_run keeps it: the value, or a summary when its text is over 2 kB.
CREATE FUNCTION stopgap._sched_summary(result jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
  RETURN CASE WHEN result IS NULL OR octet_length(result::text) <= 2048 THEN result
              ELSE jsonb_build_object('truncated', true, 'bytes', octet_length(result::text),
                                      'start', left(result::text, 256)) END;

-- One step of a scheduler worker (and of the contract tests, with stopgap.scheduler_clock set):
-- 1. runs whose worker died (not alive: not in alive_pids, or, with alive_pids NULL, no backend
--    with that pid started before the run) or whose lease ended are 'lost', and their jobs move as
--    after a failure; 2. 'missing' jobs whose target is back become active; 3. up to max_claims
--    due jobs are claimed (FOR UPDATE SKIP LOCKED: concurrent workers take disjoint jobs), each
--    checked against its quota first.
CREATE FUNCTION stopgap._sched_tick(worker_pid integer, max_claims integer, alive_pids integer[] DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  now_ timestamptz := stopgap._sched_now();
  r record;
  j stopgap.job;
  t jsonb;
  q jsonb;
  used double precision;
  lease timestamptz;
  run bigint;
  reaped integer := 0;
  skipped integer := 0;
  claims jsonb := '[]';
  ids bigint[];
BEGIN
  FOR r IN SELECT x.id, x.job_id FROM stopgap.job_run x
            WHERE x.status = 'running'
              AND (x.lease_until < now_
                   OR CASE WHEN alive_pids IS NULL
                           THEN NOT EXISTS (SELECT FROM pg_stat_activity a
                                             WHERE a.pid = x.worker_pid AND a.backend_start <= x.started_at)
                           ELSE x.worker_pid IS NULL OR x.worker_pid <> ALL (alive_pids) END)
            ORDER BY x.id
            FOR UPDATE OF x SKIP LOCKED
  LOOP
    UPDATE stopgap.job_run x SET status = 'lost', finished_at = now_,
                                 duration_ms = extract(epoch FROM now_ - x.started_at) * 1000,
                                 error_message = CASE WHEN x.lease_until < now_ THEN 'the run''s lease ended before it finished'
                                                      ELSE 'the worker running it stopped before it finished' END
     WHERE x.id = r.id;
    SELECT * INTO j FROM stopgap.job x WHERE x.id = r.job_id FOR UPDATE;
    IF FOUND THEN
      PERFORM stopgap._sched_move(j, 'lost', NULL, now_, random());
    END IF;
    reaped := reaped + 1;
  END LOOP;

  FOR j IN SELECT * FROM stopgap.job x WHERE x.state = 'missing' ORDER BY x.id FOR UPDATE SKIP LOCKED LOOP
    t := stopgap._sched_target(j.env, j.target);
    IF t IS NOT NULL AND t->>'arg_style' IS NOT NULL THEN
      UPDATE stopgap.job x SET state = 'active', state_reason = NULL, attempt = 0,
                               next_run_at = stopgap._sched_next(j.schedule, j.time_zone, now_), updated_at = now_
       WHERE x.id = j.id;
    END IF;
  END LOOP;

  -- Requested runs first, then due ones by due time: each through its own partial index, so a
  -- step costs the same with 10 or 10,000 schedules.
  ids := ARRAY(SELECT x.id FROM stopgap.job x
                WHERE x.run_requested AND x.state <> 'missing' AND (x.claim_until IS NULL OR x.claim_until < now_)
                  AND NOT EXISTS (SELECT FROM stopgap.job_run rr WHERE rr.job_id = x.id AND rr.status = 'running')
                ORDER BY x.id LIMIT max_claims FOR UPDATE SKIP LOCKED);
  ids := ids || ARRAY(SELECT x.id FROM stopgap.job x
                       WHERE x.state = 'active' AND x.next_run_at <= now_ AND NOT x.run_requested
                         AND (x.claim_until IS NULL OR x.claim_until < now_)
                         AND NOT EXISTS (SELECT FROM stopgap.job_run rr WHERE rr.job_id = x.id AND rr.status = 'running')
                       ORDER BY x.next_run_at, x.id LIMIT greatest(max_claims - cardinality(ids), 0)
                       FOR UPDATE SKIP LOCKED);
  FOR j IN SELECT * FROM stopgap.job x WHERE x.id = ANY (ids) ORDER BY array_position(ids, x.id) LOOP
    t := stopgap._sched_target(j.env, j.target);
    IF t IS NULL OR t->>'arg_style' IS NULL THEN
      -- An active schedule waits for its target; a paused or dead one keeps its state (its run_now is dropped).
      UPDATE stopgap.job x SET state = CASE WHEN j.state = 'active' THEN 'missing' ELSE j.state END,
                               run_requested = false, updated_at = now_,
                               state_reason = CASE WHEN t IS NULL
                                 THEN format('the active deployment of environment %s has no function %s', j.env, j.target)
                                 ELSE format('%s cannot be scheduled (it takes arguments other than one jsonb)', t->>'signature') END
       WHERE x.id = j.id;
      CONTINUE;
    END IF;
    q := j.options->'quota';
    IF jsonb_typeof(q) = 'object' THEN
      SELECT CASE WHEN q ? 'cost' THEN coalesce(sum(x.cost), 0) ELSE count(*) END INTO used
        FROM stopgap.job_run x JOIN stopgap.job y ON y.id = x.job_id
       WHERE x.started_at > now_ - (q->>'per')::bigint * interval '1 millisecond'
         AND x.status IN ('running', 'ok', 'error', 'timeout', 'lost')
         AND CASE WHEN q->>'scope' = 'function' THEN y.env = j.env AND y.target = j.target ELSE y.id = j.id END;
      IF used >= coalesce((q->>'runs')::double precision, (q->>'cost')::double precision) THEN
        INSERT INTO stopgap.job_run (job_id, env, job_name, deployment_id, attempt, scheduled_for, started_at,
                                     finished_at, duration_ms, status, reason, worker_pid)
        VALUES (j.id, j.env, j.name, (t->>'deployment_id')::bigint, j.attempt + 1, j.next_run_at, now_, now_, 0,
                'skipped', 'quota', worker_pid);
        PERFORM stopgap._sched_move(j, 'skipped', NULL, now_, random());
        UPDATE stopgap.job x SET run_requested = false WHERE x.id = j.id;
        skipped := skipped + 1;
        CONTINUE;
      END IF;
    END IF;
    lease := now_ + ((j.options->>'max_runtime')::bigint + 30000) * interval '1 millisecond';
    INSERT INTO stopgap.job_run (job_id, env, job_name, deployment_id, attempt, scheduled_for, started_at, status,
                                 worker_pid, lease_until)
    VALUES (j.id, j.env, j.name, (t->>'deployment_id')::bigint, j.attempt + 1, j.next_run_at, now_, 'running',
            worker_pid, lease)
    RETURNING id INTO run;
    UPDATE stopgap.job x SET claimed_by = worker_pid, claim_until = lease, run_requested = false, updated_at = now_
     WHERE x.id = j.id;
    claims := claims || jsonb_build_object(
      'run_id', run, 'job_id', j.id, 'env', j.env, 'name', j.name, 'attempt', j.attempt + 1,
      'owner', j.owner, 'live_schema', t->'live_schema', 'fn_name', t->'fn_name', 'arg_style', t->'arg_style',
      'args', j.args, 'max_runtime_ms', j.options->'max_runtime');
  END LOOP;
  RETURN jsonb_build_object('reaped', reaped, 'skipped', skipped, 'claims', claims);
END
$$;

-- Records how a claimed run ended (outcome: {status: ok | error | timeout, result, message,
-- sqlstate, started_at}) and moves its job. NULL when the run is no longer running (it was reaped
-- as lost meanwhile, or its schedule dropped); else the job's new {state, next_run_at, attempt,
-- failures_in_row}.
CREATE FUNCTION stopgap._sched_finish(run_id bigint, outcome jsonb, random01 double precision DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  now_ timestamptz := stopgap._sched_now();
  st text := outcome->>'status';
  res jsonb := outcome->'result';
  r stopgap.job_run;
  j stopgap.job;
  d jsonb;
BEGIN
  IF st IS NULL OR st NOT IN ('ok', 'error', 'timeout') THEN
    RAISE EXCEPTION 'invalid run outcome status "%"', st USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE stopgap.job_run x
     SET status = st, finished_at = now_,
         started_at = coalesce((outcome->>'started_at')::timestamptz, x.started_at),
         duration_ms = extract(epoch FROM now_ - coalesce((outcome->>'started_at')::timestamptz, x.started_at)) * 1000,
         result = stopgap._sched_summary(res), error_message = outcome->>'message', sqlstate = outcome->>'sqlstate',
         cost = CASE WHEN jsonb_typeof(res->'cost') = 'number' AND (res->>'cost')::double precision >= 0
                     THEN (res->>'cost')::double precision END
   WHERE x.id = run_id AND x.status = 'running'
  RETURNING * INTO r;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT * INTO j FROM stopgap.job x WHERE x.id = r.job_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN stopgap._sched_move(j, st, res, now_, coalesce(random01, random()));
END
$$;

-- A claimed run begins (in the transaction that runs it): its start time and lease from now, its row
-- locked until that transaction ends (so no other worker reaps it while it runs). False when it was
-- reaped as lost meanwhile (a claim that waited behind others of its batch): the run is skipped.
CREATE FUNCTION stopgap._sched_start(run_id bigint) RETURNS boolean
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  lease timestamptz;
BEGIN
  UPDATE stopgap.job_run x
     SET started_at = clock_timestamp(),
         lease_until = clock_timestamp() + ((SELECT (j.options->>'max_runtime')::bigint + 30000 FROM stopgap.job j
                                              WHERE j.id = x.job_id) * interval '1 millisecond')
   WHERE x.id = run_id AND x.status = 'running'
  RETURNING x.lease_until INTO lease;
  RETURN lease IS NOT NULL;
END
$$;

-- The earliest time this database's scheduler has something to do (a due run, a lease to check),
-- for a worker's sleep; NULL when nothing is scheduled.
CREATE FUNCTION stopgap._sched_next_wakeup() RETURNS timestamptz
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  RETURN least((SELECT min(greatest(x.next_run_at, x.claim_until)) FROM stopgap.job x
                 WHERE x.state = 'active'
                   AND NOT EXISTS (SELECT FROM stopgap.job_run r WHERE r.job_id = x.id AND r.status = 'running')),
               (SELECT min(x.lease_until) FROM stopgap.job_run x WHERE x.status = 'running'),
               (SELECT now() FROM stopgap.job x
                 WHERE x.run_requested AND x.state <> 'missing'
                   AND NOT EXISTS (SELECT FROM stopgap.job_run r WHERE r.job_id = x.id AND r.status = 'running')
                 LIMIT 1));

-- Deletes runs that finished longer than `keep` ago, up to `batch` of them; returns how many.
CREATE FUNCTION stopgap._sched_prune_runs(keep interval, batch integer) RETURNS integer
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
  BEGIN ATOMIC
    WITH gone AS (DELETE FROM stopgap.job_run x
                   WHERE x.id IN (SELECT y.id FROM stopgap.job_run y WHERE y.finished_at < now() - keep LIMIT batch)
                  RETURNING 1)
    SELECT count(*)::integer FROM gone;
  END;

REVOKE ALL ON FUNCTION stopgap._sched_now(), stopgap._sched_parse(text, jsonb),
  stopgap._sched_next(text, text, timestamptz),
  stopgap._sched_after_run(text, text, jsonb, text, integer, integer, text, jsonb, timestamptz, double precision),
  stopgap._sched_wake(), stopgap.start_scheduler(), stopgap._sched_authorize(text),
  stopgap._sched_move(stopgap.job, text, jsonb, timestamptz, double precision), stopgap._sched_target(text, text),
  stopgap._schedule_row(text, text), stopgap._job(text, text), stopgap._sched_apply(bigint, jsonb, timestamptz),
  stopgap.schedule(text, text, text, text, jsonb, jsonb), stopgap.unschedule(text, text),
  stopgap.pause(text, text), stopgap.resume(text, text), stopgap.run_now(text, text),
  stopgap._sched_summary(jsonb), stopgap._sched_tick(integer, integer, integer[]),
  stopgap._sched_finish(bigint, jsonb, double precision), stopgap._sched_next_wakeup(),
  stopgap._sched_start(bigint),
  stopgap._sched_prune_runs(interval, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stopgap.schedule(text, text, text, text, jsonb, jsonb), stopgap.unschedule(text, text),
  stopgap.pause(text, text), stopgap.resume(text, text), stopgap.run_now(text, text), stopgap.start_scheduler()
TO stopgap_deployer;
GRANT SELECT ON stopgap.job, stopgap.job_run, stopgap.schedules TO stopgap_deployer;
