-- stopgap 0.1.0: versioned deployments of plts functions into live schemas.
\echo Use "CREATE EXTENSION stopgap" to load this file. \quit

-- Everything here is qualified: the functions pin search_path to pg_catalog, pg_temp.
--
-- Model. An environment (stopgap.environment) owns one live schema. stopgap.deploy(env, schema)
-- compiles every LANGUAGE plts function of a source schema into plts artifacts, records a
-- deployment (open -> sealed -> active) with one fn_version per function, and (re)creates one
-- pointer function per source function in the live schema: same signature and attributes, a body
-- that is a plts pointer stub naming the artifact. Every kind of routine plts runs is deployed:
-- functions (scalar, SETOF/TABLE, OUT/INOUT, polymorphic, VARIADIC, trigger, event_trigger),
-- window functions and procedures, each live pointer of the same kind as its source. Rollback re-creates an earlier deployment's
-- pointers from its fn_version rows. All of it happens in the caller's transaction, under a
-- per-environment advisory lock: a failure leaves nothing behind.
--
-- Security. deploy/rollback/diff are SECURITY DEFINER (owned by the extension owner, a superuser)
-- with a pinned search_path; EXECUTE on them is granted to stopgap_deployer only, and they check
-- the calling role (see stopgap._calling_role) explicitly. Live schemas and pointer functions are
-- owned by stopgap_owner (NOLOGIN); app_user may call live functions.

-- ---------------------------------------------------------------------------------------------
-- Roles. Roles are cluster-wide: created here only when absent, never dropped by DROP EXTENSION
-- (other databases of the cluster may use them).

DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'stopgap_owner') THEN
    CREATE ROLE stopgap_owner NOLOGIN;
    COMMENT ON ROLE stopgap_owner IS 'stopgap: owns live schemas and pointer functions';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'stopgap_deployer') THEN
    CREATE ROLE stopgap_deployer NOLOGIN;
    COMMENT ON ROLE stopgap_deployer IS 'stopgap: may deploy, roll back and diff';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_user') THEN
    CREATE ROLE app_user NOLOGIN;
    COMMENT ON ROLE app_user IS 'stopgap: may call live functions';
  END IF;
END
$roles$;

CREATE SCHEMA stopgap;
GRANT USAGE ON SCHEMA stopgap TO PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- The C side: version, settings (defined when stopgap.so loads), metrics, log lines, caller.

CREATE FUNCTION stopgap.version() RETURNS text
  LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'stopgap_version';
COMMENT ON FUNCTION stopgap.version() IS 'stopgap version';

CREATE FUNCTION stopgap.metrics() RETURNS jsonb
  LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'stopgap_metrics';
COMMENT ON FUNCTION stopgap.metrics() IS
  'this backend''s stopgap counters: deploy/rollback/diff calls, errors, latency, error classes';

CREATE FUNCTION stopgap._record_metric(op text, started_at timestamptz, sqlstate text) RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'stopgap_record_metric';
CREATE FUNCTION stopgap._log(level text, message text) RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'stopgap_log_line';
-- The role stopgap authorizes: the SET ROLE role, else the session user (PostgreSQL's "outer"
-- user, which SECURITY DEFINER calls do not change).
CREATE FUNCTION stopgap._calling_role() RETURNS name
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'stopgap_calling_role';
-- stopgap.live_schema, checked (also when it was set before stopgap.so was loaded).
CREATE FUNCTION stopgap._live_schema_setting() RETURNS text
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'stopgap_live_schema_setting';

-- ---------------------------------------------------------------------------------------------
-- Catalog.

CREATE TABLE stopgap.environment (
  env text PRIMARY KEY CHECK (env ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
  live_schema name NOT NULL UNIQUE,
  active_deployment_id bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by name NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stopgap.environment IS 'stopgap environments: a live schema and its active deployment';

CREATE TABLE stopgap.deployment (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  env text NOT NULL REFERENCES stopgap.environment (env),
  label text,
  status text NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'sealed', 'active', 'superseded', 'rolled_back')),
  manifest jsonb NOT NULL DEFAULT '{}',
  source_schema name NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by name NOT NULL
);
COMMENT ON TABLE stopgap.deployment IS
  'stopgap deployments: open -> sealed -> active; active -> superseded | rolled_back; superseded -> active | rolled_back';
CREATE UNIQUE INDEX deployment_one_active ON stopgap.deployment (env) WHERE status = 'active';
-- environment.active_deployment_id has no foreign key: the two tables would reference each other,
-- which pg_dump cannot order. deploy and rollback set it together with the statuses.

CREATE TABLE stopgap.fn_version (
  deployment_id bigint NOT NULL REFERENCES stopgap.deployment (id),
  fn_name name NOT NULL,
  signature text NOT NULL,       -- name(identity arguments), for people
  identity_types text NOT NULL,  -- argument types, comma-separated: the function's identity
  arguments text NOT NULL,       -- pg_get_function_arguments: names, types, defaults
  routine text NOT NULL DEFAULT 'function'       -- pg_proc.prokind f, w, p: how it is created
    CHECK (routine IN ('function', 'window', 'procedure')),
  result text,                   -- pg_get_function_result; NULL for a procedure
  clauses text NOT NULL,         -- RETURNS, LANGUAGE, WINDOW, volatility, strictness, parallel, cost,
                                 -- ROWS, SET
  kind text NOT NULL,            -- the default export's kind: query, mutation, function, value
  artifact_hash text NOT NULL,   -- in plts.artifact (status reports it missing otherwise)
  source_sha256 text NOT NULL,   -- of the source function's body as written
  imports text[] NOT NULL DEFAULT '{}',           -- deployed functions it imports
  import_map jsonb NOT NULL DEFAULT '{}',         -- "@stopgap/<schema>/<fn>" -> plts+artifact:
  pointer text NOT NULL,         -- the pointer stub: the live function's body
  comment text,
  definition text,               -- pg_get_functiondef of the live function stopgap created
  PRIMARY KEY (deployment_id, fn_name)
);
COMMENT ON TABLE stopgap.fn_version IS 'one row per function of a deployment: what its live pointer is';

CREATE TABLE stopgap.activation_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  env text NOT NULL REFERENCES stopgap.environment (env),
  action text NOT NULL CHECK (action IN ('deploy', 'rollback')),
  from_deployment_id bigint,
  to_deployment_id bigint NOT NULL,
  actor name NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now(),
  detail jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE stopgap.activation_log IS 'every activation of a deployment: who, when, from which';
CREATE INDEX activation_log_env ON stopgap.activation_log (env, id);

-- pg_dump keeps the history (restore with the extension created first).
SELECT pg_catalog.pg_extension_config_dump('stopgap.environment', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.deployment', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.fn_version', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.activation_log', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.deployment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('stopgap.activation_log_id_seq', '');

-- The state machine, and sealed deployments are immutable.
CREATE FUNCTION stopgap._deployment_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'open' THEN
      RAISE EXCEPTION 'deployment % is % and cannot be deleted', OLD.id, OLD.status
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Deployments are history; only an open one (inside its deploy) goes away.';
    END IF;
    RETURN OLD;
  END IF;
  IF (NEW.id, NEW.env, NEW.source_schema, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM (OLD.id, OLD.env, OLD.source_schema, OLD.created_at, OLD.created_by)
     OR (OLD.status <> 'open' AND (NEW.label, NEW.manifest) IS DISTINCT FROM (OLD.label, OLD.manifest)) THEN
    RAISE EXCEPTION 'deployment % is % and cannot be changed', OLD.id, OLD.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Only a deployment''s status changes once it is sealed.';
  END IF;
  IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
       ('open', 'sealed'), ('sealed', 'active'), ('active', 'superseded'), ('active', 'rolled_back'),
       ('superseded', 'active'), ('superseded', 'rolled_back')) THEN
    RAISE EXCEPTION 'deployment % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Allowed: open -> sealed -> active; active -> superseded | rolled_back; '
                   'superseded -> active | rolled_back.';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER deployment_guard BEFORE UPDATE OR DELETE ON stopgap.deployment
  FOR EACH ROW EXECUTE FUNCTION stopgap._deployment_guard();

CREATE FUNCTION stopgap._fn_version_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  st text;
BEGIN
  SELECT d.status INTO st FROM stopgap.deployment d WHERE d.id = OLD.deployment_id;
  IF st IS DISTINCT FROM 'open' OR (TG_OP = 'UPDATE' AND NEW.deployment_id <> OLD.deployment_id) THEN
    RAISE EXCEPTION 'functions of deployment % are sealed', OLD.deployment_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER fn_version_guard BEFORE UPDATE OR DELETE ON stopgap.fn_version
  FOR EACH ROW EXECUTE FUNCTION stopgap._fn_version_guard();

CREATE VIEW stopgap.activation_audit AS
  SELECT l.id, l.env, l.action,
         l.from_deployment_id, f.label AS from_label,
         l.to_deployment_id, t.label AS to_label,
         l.actor, l.activated_at,
         l.detail->'prune' AS prune,
         l.detail
    FROM stopgap.activation_log l
    LEFT JOIN stopgap.deployment f ON f.id = l.from_deployment_id
    LEFT JOIN stopgap.deployment t ON t.id = l.to_deployment_id;
COMMENT ON VIEW stopgap.activation_audit IS 'activations with the labels of the deployments involved';

CREATE VIEW stopgap.environment_overview AS
  SELECT e.env, e.live_schema, e.active_deployment_id,
         d.label AS active_label, d.source_schema, d.created_by AS deployed_by,
         (SELECT count(*) FROM stopgap.fn_version v WHERE v.deployment_id = e.active_deployment_id)
           AS function_count,
         (SELECT count(*) FROM stopgap.deployment x WHERE x.env = e.env) AS deployment_count,
         last.action AS last_action, last.actor AS last_actor, last.activated_at AS last_activated_at
    FROM stopgap.environment e
    LEFT JOIN stopgap.deployment d ON d.id = e.active_deployment_id
    LEFT JOIN LATERAL (SELECT l.action, l.actor, l.activated_at FROM stopgap.activation_log l
                        WHERE l.env = e.env ORDER BY l.id DESC LIMIT 1) last ON true;
COMMENT ON VIEW stopgap.environment_overview IS 'one row per environment: live schema, active deployment, last activation';

-- ---------------------------------------------------------------------------------------------
-- Helpers (not executable by PUBLIC unless noted).

-- The environment name to use: env, or stopgap.default_env when it is NULL; validated.
CREATE FUNCTION stopgap._env_name(env text) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text := coalesce(env, current_setting('stopgap.default_env', true), 'prod');
BEGIN
  IF e !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' THEN
    RAISE EXCEPTION 'invalid environment name "%"', e
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Environment names are 1-63 letters, digits, ''_'', ''.'' or ''-''.';
  END IF;
  RETURN e;
END
$$;

-- A function's identity: its argument types, as format_type prints them under the pinned path.
-- proargtypes is the same for every kind of routine: IN, INOUT and VARIADIC arguments (VARIADIC as
-- its array type, or "any"), never OUT arguments or TABLE columns (pg_get_function_arguments and
-- pg_get_function_result, compared besides, hold those).
CREATE FUNCTION stopgap._identity_types(fn oid) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
  RETURN (SELECT coalesce(string_agg(format_type(a.t, NULL), ',' ORDER BY a.o), '')
            FROM pg_proc p, unnest(p.proargtypes) WITH ORDINALITY AS a(t, o) WHERE p.oid = fn);

-- A pause point of the fault tests: with stopgap.pause_at (superuser only) set to phase, the
-- deploy or rollback waits here for an advisory lock the test holds, so the test can kill it in a
-- known phase. One GUC read otherwise.
CREATE FUNCTION stopgap._pause_point(phase text) RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF current_setting('stopgap.pause_at', true) = phase THEN
    PERFORM pg_advisory_xact_lock(hashtext('stopgap.pause_at'), hashtext(phase));
  END IF;
END
$$;

-- Serializes everything that changes one environment (deploy, rollback) until the transaction ends.
CREATE FUNCTION stopgap._lock(env text) RETURNS void
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
  RETURN pg_advisory_xact_lock(hashtext('stopgap'), hashtext(env));

-- Refuses a deploy or rollback where nothing can be written: a standby, or a read-only transaction.
CREATE FUNCTION stopgap._require_writable(action text) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pg_is_in_recovery() THEN
    RAISE EXCEPTION 'cannot % on a standby: this server is in recovery', action
      USING ERRCODE = 'read_only_sql_transaction',
            HINT = 'Deploy and roll back on the primary; standbys see the result once they replay it.';
  ELSIF current_setting('transaction_read_only') = 'on' THEN
    RAISE EXCEPTION 'cannot % in a read-only transaction', action
      USING ERRCODE = 'read_only_sql_transaction';
  END IF;
END
$$;

-- Checks the calling role; returns the source schema's oid (NULL when from_schema is NULL).
CREATE FUNCTION stopgap._authorize(caller name, action text, from_schema text) RETURNS oid
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src oid;
BEGIN
  IF NOT pg_has_role(caller, 'stopgap_deployer', 'MEMBER') THEN
    RAISE EXCEPTION 'role "%" may not % with stopgap: it is not a member of stopgap_deployer', caller, action
      USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT stopgap_deployer TO %I;', caller);
  END IF;
  IF from_schema IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT n.oid INTO src FROM pg_namespace n WHERE n.nspname = from_schema;
  IF src IS NULL THEN
    RAISE EXCEPTION 'schema "%" does not exist', from_schema USING ERRCODE = 'invalid_schema_name';
  END IF;
  IF NOT has_schema_privilege(caller, src, 'USAGE') THEN
    RAISE EXCEPTION 'role "%" may not % from schema "%": it lacks USAGE on that schema', caller, action, from_schema
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('GRANT USAGE ON SCHEMA %I TO %I;', from_schema, caller);
  END IF;
  IF NOT has_function_privilege(caller, 'plts.compile_and_store(text, jsonb)', 'EXECUTE') THEN
    RAISE EXCEPTION 'role "%" may not %: it lacks EXECUTE on plts.compile_and_store', caller, action
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF EXISTS (SELECT FROM stopgap.environment e WHERE e.live_schema = from_schema) THEN
    RAISE EXCEPTION 'schema "%" is a live schema; deploy from the schema that holds the TypeScript source', from_schema
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN src;
END
$$;

-- The environment's row, locked; created (with stopgap.live_schema) when create is set.
CREATE FUNCTION stopgap._environment(env text, create_it boolean, caller name) RETURNS stopgap.environment
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r stopgap.environment;
  live name;
  other text;
BEGIN
  SELECT * INTO r FROM stopgap.environment e WHERE e.env = _environment.env FOR UPDATE;
  IF FOUND THEN
    RETURN r;
  END IF;
  IF NOT create_it THEN
    RAISE EXCEPTION 'environment "%" does not exist', env
      USING ERRCODE = 'undefined_object', HINT = 'An environment is created by its first stopgap.deploy.';
  END IF;
  live := stopgap._live_schema_setting();
  SELECT e.env INTO other FROM stopgap.environment e WHERE e.live_schema = live;
  IF FOUND THEN
    RAISE EXCEPTION 'live schema "%" already belongs to environment "%"', live, other
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SET stopgap.live_schema to another schema before the first deploy to "%s".', env);
  END IF;
  -- Under the environment lock nobody else inserts it in READ COMMITTED; under REPEATABLE READ a
  -- row committed after this transaction's snapshot makes ON CONFLICT fail with 40001 (retry).
  INSERT INTO stopgap.environment (env, live_schema, created_by) VALUES (env, live, caller)
  ON CONFLICT ON CONSTRAINT environment_pkey DO NOTHING;
  SELECT * INTO r FROM stopgap.environment e WHERE e.env = _environment.env FOR UPDATE;
  RETURN r;
END
$$;

-- The live schema's oid: created (owned by stopgap_owner) when missing; refused when someone else
-- owns it, since stopgap would then write into a schema it does not control.
CREATE FUNCTION stopgap._ensure_live_schema(env text, live name) RETURNS oid
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s oid;
  owner_oid oid;
BEGIN
  SELECT n.oid, n.nspowner INTO s, owner_oid FROM pg_namespace n WHERE n.nspname = live;
  IF s IS NULL THEN
    EXECUTE format('CREATE SCHEMA %I AUTHORIZATION stopgap_owner', live);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO app_user', live);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', live,
                   format('stopgap live schema of environment %s', env));
    SELECT n.oid INTO s FROM pg_namespace n WHERE n.nspname = live;
    RETURN s;
  END IF;
  IF owner_oid <> 'stopgap_owner'::regrole THEN
    RAISE EXCEPTION 'live schema "%" of environment "%" is not managed by stopgap: it is owned by %',
                    live, env, owner_oid::regrole
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('stopgap writes only into schemas owned by stopgap_owner: ALTER SCHEMA %I OWNER TO '
                          'stopgap_owner, or SET stopgap.live_schema to a new schema before the first deploy.', live);
  END IF;
  IF NOT has_schema_privilege('app_user', s, 'USAGE') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO app_user', live);
  END IF;
  RETURN s;
END
$$;

-- The module a deployed function compiles: its body, plus (when it imports other deployed
-- functions) an import map comment at the end that maps them to their artifacts. Baking the map
-- into the source makes an artifact's hash cover everything it links to, so a module cached by
-- hash can never be linked to an older dependency. At the end, line numbers stay those of the
-- body; a map the body had itself is merged (ours win) and its comment disarmed.
CREATE FUNCTION stopgap._bake_import_map(source text, map jsonb, what text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  own text;
  own_map jsonb := '{}';
BEGIN
  IF map = '{}' THEN
    RETURN source;
  END IF;
  own := substring(source from '(?n)^[ \t]*// plts-import-map:(.*)$');
  IF own IS NOT NULL THEN
    BEGIN
      own_map := own::jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
      own_map := NULL;
    END;
    IF own_map IS NULL OR jsonb_typeof(own_map) <> 'object' THEN
      RAISE EXCEPTION 'malformed plts-import-map comment in %', what
        USING ERRCODE = 'invalid_parameter_value', HINT = 'The comment must hold one JSON object on its line.';
    END IF;
    source := regexp_replace(source, '(?n)^([ \t]*)// plts-import-map:',
                             '\1// plts-import-map (merged into the one at the end by stopgap):', 'g');
  END IF;
  RETURN source || E'\n// plts-import-map: ' || (own_map || map)::text || E'\n';
END
$$;

-- The kind of routine, as stopgap records it (fn_version.routine) from pg_proc.prokind.
CREATE FUNCTION stopgap._routine(prokind "char") RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
  RETURN CASE prokind WHEN 'f' THEN 'function' WHEN 'w' THEN 'window' WHEN 'p' THEN 'procedure' END;

-- What a deploy (store) or a diff (dry run) would deploy from schema src: one entry per function,
-- sorted by name, each compiled with its dependencies' artifacts baked in (dependencies first).
-- Dry runs compile without storing and report diagnostics instead of failing.
CREATE FUNCTION stopgap._plan(src oid, store boolean) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src_name name := (SELECT n.nspname FROM pg_namespace n WHERE n.oid = src);
  prefix text := '@stopgap/' || src_name || '/';
  opts constant jsonb := '{"source_map": true}';
  fns jsonb := '{}';   -- fn_name -> entry
  f record;
  e jsonb;
  bad text;
  refs text[];
  unknown text;
  def text;
  head text;
  rest text;
  body_at int;
  pending text[];
  done jsonb := '{}';  -- fn_name -> artifact hash
  to_store jsonb := '{}';  -- artifact hash -> baked source
  progressed boolean;
  name_ text;
  map jsonb;
  baked text;
  hash text;
  r jsonb;
  err jsonb;
  planned jsonb;
BEGIN
  -- Overloads: one function per name (its live pointer and its import specifier are by name).
  SELECT string_agg(format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)), ', '
                    ORDER BY p.proname, p.oid)
    INTO bad
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plts'
   WHERE p.pronamespace = src
     AND p.proname IN (SELECT p2.proname FROM pg_proc p2 JOIN pg_language l2 ON l2.oid = p2.prolang
                        WHERE p2.pronamespace = src AND l2.lanname = 'plts'
                        GROUP BY p2.proname HAVING count(*) > 1);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'schema "%" has overloaded plts functions: %', src_name, bad
      USING ERRCODE = 'ambiguous_function',
            HINT = 'stopgap deploys one function per name; rename or drop the overloads.';
  END IF;

  FOR f IN
    SELECT p.oid, p.proname, p.prokind, p.prosecdef, p.prosrc,
           pg_get_function_identity_arguments(p.oid) AS ident,
           pg_get_function_arguments(p.oid) AS args,
           pg_get_function_result(p.oid) AS result,
           obj_description(p.oid, 'pg_proc') AS comment
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plts'
     WHERE p.pronamespace = src
     ORDER BY p.proname
  LOOP
    -- Functions, window functions and procedures (plts is no aggregate's language).
    IF stopgap._routine(f.prokind) IS NULL THEN
      RAISE EXCEPTION 'cannot deploy %.%: stopgap deploys functions, window functions and procedures, not routines of kind "%"',
                      src_name, f.proname, f.prokind
        USING ERRCODE = 'feature_not_supported';
    END IF;
    IF f.prosecdef THEN
      RAISE EXCEPTION 'cannot deploy %.%: it is SECURITY DEFINER', src_name, f.proname
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'Live functions are owned by stopgap_owner and run as their caller.',
              HINT = format('ALTER %s %I.%I(%s) SECURITY INVOKER;', CASE WHEN f.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                            src_name, f.proname, f.ident);
    END IF;
    IF f.prosrc ~ '^\s*\{' AND f.prosrc ~ '"kind"\s*:\s*"artifact_ptr"' THEN
      RAISE EXCEPTION 'cannot deploy %.%: its body is a pointer stub, not TypeScript', src_name, f.proname
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Deploy from the schema that holds the TypeScript source.';
    END IF;
    -- The live function's clauses are the source's, as pg_get_functiondef prints them (it quotes
    -- SET values correctly): everything between the signature and the body. That is RETURNS (SETOF,
    -- TABLE(...), record, trigger, event_trigger, polymorphic types: whatever the source says; none
    -- for a procedure), LANGUAGE, WINDOW, volatility, strictness, parallel safety, COST, ROWS, SET.
    def := pg_get_functiondef(f.oid);
    -- The list above is read with the statement's snapshot, definitions from the current catalog:
    -- a source function dropped or replaced by a concurrent transaction since then no longer
    -- agrees. Deploying it would mix two versions; the deploy is refused as a serialization failure.
    IF def IS NULL OR f.args IS NULL OR (f.result IS NULL AND f.prokind <> 'p') OR f.ident IS NULL
       OR strpos(def, f.prosrc) = 0 THEN
      RAISE EXCEPTION 'cannot deploy %.%: it was dropped or replaced by another transaction during the deploy',
                      src_name, f.proname
        USING ERRCODE = 'serialization_failure',
              HINT = 'Nothing was deployed. Deploy again once the source schema stopped changing.';
    END IF;
    head := format(E'CREATE OR REPLACE %s %I.%I(%s)\n', CASE WHEN f.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                   src_name, f.proname, f.args);
    IF left(def, length(head)) <> head THEN
      RAISE EXCEPTION 'unexpected definition of %.%', src_name, f.proname USING ERRCODE = 'internal_error';
    END IF;
    rest := substr(def, length(head) + 1);
    body_at := strpos(rest, E'\nAS ');
    IF body_at = 0 THEN
      RAISE EXCEPTION 'unexpected definition of %.%', src_name, f.proname USING ERRCODE = 'internal_error';
    END IF;
    -- Imports of other deployed functions: the specifiers "@stopgap/<schema>/<fn>" with the names
    -- as they are in the catalog, read by the compiler (string escapes decoded: any name can be
    -- written). Other "@stopgap/" specifiers than the runtime resolve to nothing: refused here, so
    -- that diff reports what deploy would fail on.
    r := plts._transpile(f.prosrc, opts);
    SELECT string_agg(format('"%s"', i), ', ' ORDER BY i) INTO bad
      FROM jsonb_array_elements_text(r->'imports') AS i
     WHERE starts_with(i, '@stopgap/') AND i <> '@stopgap/runtime' AND NOT starts_with(i, prefix);
    IF bad IS NOT NULL THEN
      RAISE EXCEPTION 'cannot deploy %.%: it imports %, which is neither @stopgap/runtime nor a function of schema "%"',
                      src_name, f.proname, bad, src_name
        USING ERRCODE = 'undefined_function',
              DETAIL = format('Deployed functions import each other as "%s<function>", with the schema and '
                              'function names exactly as in the catalog (case and quotes included).', prefix);
    END IF;
    SELECT coalesce(array_agg(x.fn ORDER BY x.fn), '{}') INTO refs
      FROM (SELECT DISTINCT substr(i, length(prefix) + 1) AS fn
              FROM jsonb_array_elements_text(r->'imports') AS i WHERE starts_with(i, prefix)) x;
    fns := fns || jsonb_build_object(f.proname, jsonb_build_object(
      'fn_name', f.proname,
      'signature', format('%s(%s)', f.proname, f.ident),
      'identity_types', stopgap._identity_types(f.oid),
      'routine', stopgap._routine(f.prokind),
      'arguments', f.args,
      'result', f.result,
      'clauses', left(rest, body_at - 1),
      'comment', f.comment,
      'source', f.prosrc,
      'source_sha256', encode(sha256(convert_to(f.prosrc, 'UTF8')), 'hex'),
      'imports', to_jsonb(refs)));
  END LOOP;
  IF fns = '{}' THEN
    RAISE EXCEPTION 'schema "%" has no LANGUAGE plts functions to deploy', src_name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  FOR name_, e IN SELECT * FROM jsonb_each(fns) LOOP
    SELECT string_agg(i, ', ') INTO unknown
      FROM jsonb_array_elements_text(e->'imports') AS i WHERE NOT fns ? i;
    IF unknown IS NOT NULL THEN
      RAISE EXCEPTION 'cannot deploy %.%: it imports %, which schema "%" has no plts function for',
                      src_name, name_,
                      (SELECT string_agg(format('"%s%s"', prefix, i), ', ')
                         FROM jsonb_array_elements_text(e->'imports') AS i WHERE NOT fns ? i), src_name
        USING ERRCODE = 'undefined_function';
    END IF;
  END LOOP;

  -- Compile in dependency order: a function's dependencies are compiled (and their hashes known)
  -- before it. A cycle cannot be baked and is refused.
  SELECT array_agg(k ORDER BY k) INTO pending FROM jsonb_object_keys(fns) AS k;
  WHILE cardinality(pending) > 0 LOOP
    progressed := false;
    FOREACH name_ IN ARRAY pending LOOP
      e := fns->name_;
      CONTINUE WHEN EXISTS (SELECT FROM jsonb_array_elements_text(e->'imports') AS i WHERE NOT done ? i);
      SELECT coalesce(jsonb_object_agg(prefix || i, 'plts+artifact:' || (done->>i)), '{}') INTO map
        FROM jsonb_array_elements_text(e->'imports') AS i;
      baked := stopgap._bake_import_map(e->>'source', map, format('%s.%s', src_name, name_));
      -- Transpiled here, stored below in hash order (plts caches the transpile for that).
      r := plts._transpile(baked, opts);
      PERFORM stopgap._pause_point('compile');
      hash := r->>'artifact_hash';
      SELECT jsonb_build_object('line', (d->>'line')::int, 'column', (d->>'column')::int, 'message', d->>'message')
        INTO err FROM jsonb_array_elements(r->'diagnostics') AS d WHERE d->>'category' = 'error' LIMIT 1;
      IF store AND err IS NOT NULL THEN
        RAISE EXCEPTION 'cannot deploy %.%: TypeScript error at line %, column %: %', src_name, name_,
                        err->>'line', err->>'column', err->>'message'
          USING ERRCODE = 'syntax_error', DETAIL = 'diagnostics: ' || (r->'diagnostics')::text,
                HINT = 'Nothing was deployed. Fix the function and deploy again.';
      END IF;
      to_store := to_store || jsonb_build_object(hash, baked);
      done := done || jsonb_build_object(name_, hash);
      e := (e - 'source') || jsonb_build_object('artifact_hash', hash, 'import_map', map);
      IF err IS NOT NULL THEN
        e := e || jsonb_build_object('error', err);
      END IF;
      fns := fns || jsonb_build_object(name_, e);
      pending := array_remove(pending, name_);
      progressed := true;
    END LOOP;
    IF NOT progressed THEN
      RAISE EXCEPTION 'cannot deploy from schema "%": import cycle among %', src_name, array_to_string(pending, ', ')
        USING ERRCODE = 'invalid_object_definition',
              DETAIL = 'A deployed function''s artifact names the artifacts it imports, so imports between '
                       'deployed functions must not form a cycle.',
              HINT = 'Move the code they share into one function (or an artifact) that both import.';
    END IF;
  END LOOP;

  -- Artifacts are shared between environments: deploys that store some of the same ones must
  -- insert them in one global order (by hash), or two of them could each wait for the other's
  -- uncommitted row (40P01).
  IF store THEN
    FOR hash, baked IN SELECT key, value FROM jsonb_each_text(to_store) ORDER BY key COLLATE "C" LOOP
      IF plts.compile_and_store(baked, opts) IS DISTINCT FROM hash THEN
        RAISE EXCEPTION 'stopgap: storing artifact % gave another hash', hash;
      END IF;
      PERFORM stopgap._pause_point('store');
    END LOOP;
  END IF;

  SELECT jsonb_agg(v ORDER BY k) INTO planned FROM jsonb_each(fns) AS x(k, v);
  RETURN planned;
END
$$;

-- The default export's kind, from @stopgap/runtime metadata. Loading a module runs its top-level
-- code: this runs as stopgap_owner (NOLOGIN, owns nothing but live objects), never as the
-- superuser that owns deploy, so the code runs in a V8 context no privileged role ever uses.
CREATE FUNCTION stopgap._export_kinds(artifact_hash text) RETURNS jsonb
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  RETURN plts.artifact_exports(artifact_hash);
ALTER FUNCTION stopgap._export_kinds(text) OWNER TO stopgap_owner;

-- Creates or replaces the live pointer of every fn_version of deployment d in schema live, as the
-- routine kind it records; returns {fn_name: pg_get_functiondef of the live routine}. action
-- ('deploy', 'roll back') names the operation in errors.
CREATE FUNCTION stopgap._materialize(live oid, d bigint, action text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  live_name name := (SELECT n.nspname FROM pg_namespace n WHERE n.oid = live);
  v stopgap.fn_version;
  p record;
  fn regprocedure;
  defs jsonb := '{}';
  why text;
  detail text;
BEGIN
  FOR v IN SELECT * FROM stopgap.fn_version x WHERE x.deployment_id = d ORDER BY x.fn_name LOOP
    -- CREATE OR REPLACE keeps a live routine's oid, so what uses it (a table's trigger, an event
    -- trigger, a view) goes on using it across deploys and rollbacks. It cannot change argument
    -- names, types or defaults, the result type or the kind (function, window function,
    -- procedure): a live routine of this name with another shape is dropped first. Never with
    -- CASCADE: when objects depend on it, the deploy or rollback fails (2BP01) and changes nothing,
    -- rather than silently drop a user's trigger or view.
    FOR p IN
      SELECT x.oid::regprocedure AS fn, stopgap._routine(x.prokind) AS routine,
             stopgap._identity_types(x.oid) AS identity_types,
             pg_get_function_arguments(x.oid) AS arguments, pg_get_function_result(x.oid) AS result
        FROM pg_proc x
       WHERE x.pronamespace = live AND x.proname = v.fn_name
         AND (stopgap._identity_types(x.oid), stopgap._routine(x.prokind), pg_get_function_arguments(x.oid),
              pg_get_function_result(x.oid))
             IS DISTINCT FROM (v.identity_types, v.routine, v.arguments, v.result)
    LOOP
      BEGIN
        EXECUTE format('DROP ROUTINE %s', p.fn);
      EXCEPTION WHEN dependent_objects_still_exist THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        why := CASE
          WHEN p.routine IS DISTINCT FROM v.routine
            THEN format('it changes from a %s to a %s', coalesce(p.routine, 'routine'), v.routine)
          WHEN (p.identity_types, p.arguments) IS DISTINCT FROM (v.identity_types, v.arguments)
            THEN format('its arguments change from (%s) to (%s)', p.arguments, v.arguments)
          ELSE format('its result changes from %s to %s', p.result, v.result) END;
        RAISE EXCEPTION 'cannot %: live % % must be dropped and re-created because %, and other objects depend on it',
                        action, coalesce(p.routine, 'routine'), p.fn, why
          USING ERRCODE = 'dependent_objects_still_exist', DETAIL = detail,
                HINT = 'Nothing was changed: stopgap never drops dependent objects. Drop them and re-create them '
                       'around the deploy in one transaction, or keep this function''s arguments, result type and '
                       'kind and give the new shape another name.';
      END;
    END LOOP;
    EXECUTE format(E'CREATE OR REPLACE %s %I.%I(%s)\n%s\nAS %L',
                   CASE WHEN v.routine = 'procedure' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                   live_name, v.fn_name, v.arguments, v.clauses, v.pointer);
    SELECT x.oid INTO fn FROM pg_proc x
     WHERE x.pronamespace = live AND x.proname = v.fn_name AND stopgap._identity_types(x.oid) = v.identity_types;
    -- ROUTINE: the same statements for functions, window functions and procedures.
    EXECUTE format('ALTER ROUTINE %s OWNER TO stopgap_owner', fn);
    -- Privileges are stopgap's too: a replaced function keeps its ACL, so grants made by hand since
    -- the last activation (see stopgap._privilege_drift) are revoked, whoever they went to.
    EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC CASCADE', fn);
    FOR p IN
      SELECT DISTINCT a.grantee::regrole AS grantee
        FROM pg_proc x, aclexplode(x.proacl) a
       WHERE x.oid = fn AND a.grantee NOT IN (0, x.proowner)
    LOOP
      EXECUTE format('REVOKE ALL ON ROUTINE %s FROM %s CASCADE', fn, p.grantee);
    END LOOP;
    EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO app_user', fn);
    EXECUTE format('COMMENT ON ROUTINE %s IS %L', fn, v.comment);
    defs := defs || jsonb_build_object(v.fn_name, pg_get_functiondef(fn));
    PERFORM stopgap._pause_point('materialize');
  END LOOP;
  RETURN defs;
END
$$;

-- With stopgap.prune on, drops the live functions, window functions and procedures that deployment
-- d lacks, except those other objects depend on (pg_depend: a trigger, a view, ...). Returns {enabled, dropped: [signature], skipped: [{function,
-- dependents}]}.
CREATE FUNCTION stopgap._prune(live oid, d bigint) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  enabled boolean := coalesce(current_setting('stopgap.prune', true), 'off')::boolean;
  p record;
  dependents jsonb;
  dropped jsonb := '[]';
  skipped jsonb := '[]';
BEGIN
  IF NOT enabled THEN
    RETURN jsonb_build_object('enabled', false, 'dropped', dropped, 'skipped', skipped);
  END IF;
  FOR p IN
    SELECT x.oid, x.oid::regprocedure AS fn,
           format('%s(%s)', x.proname, pg_get_function_identity_arguments(x.oid)) AS signature
      FROM pg_proc x
     WHERE x.pronamespace = live AND x.prokind IN ('f', 'w', 'p')
       AND NOT EXISTS (SELECT FROM stopgap.fn_version v
                        WHERE v.deployment_id = d AND v.fn_name = x.proname
                          AND v.identity_types = stopgap._identity_types(x.oid))
     ORDER BY x.proname, x.oid
  LOOP
    SELECT jsonb_agg(DISTINCT pg_describe_object(dep.classid, dep.objid, dep.objsubid)) INTO dependents
      FROM pg_depend dep
     WHERE dep.refclassid = 'pg_proc'::regclass AND dep.refobjid = p.oid;
    IF dependents IS NOT NULL THEN
      skipped := skipped || jsonb_build_array(jsonb_build_object('function', p.signature, 'dependents', dependents));
    ELSE
      EXECUTE format('DROP ROUTINE %s', p.fn);
      dropped := dropped || to_jsonb(p.signature);
    END IF;
  END LOOP;
  RETURN jsonb_build_object('enabled', true, 'dropped', dropped, 'skipped', skipped);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Deploy.

CREATE FUNCTION stopgap._deploy(caller name, env text, from_schema text, label text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text := stopgap._env_name(env);
  src oid;
  er stopgap.environment;
  live oid;
  prev bigint;
  dep_id bigint;
  plan jsonb;
  f jsonb;
  kind text;
  kinds jsonb := '{}';
  pointer text;
  defs jsonb;
  prune jsonb;
  import_map jsonb;
  new_manifest jsonb;
  state text;
  msg text;
  detail text;
BEGIN
  PERFORM stopgap._require_writable('deploy');
  src := stopgap._authorize(caller, 'deploy', from_schema);
  PERFORM stopgap._lock(e);
  er := stopgap._environment(e, true, caller);
  live := stopgap._ensure_live_schema(e, er.live_schema);
  prev := er.active_deployment_id;

  INSERT INTO stopgap.deployment (env, label, source_schema, created_by)
  VALUES (e, label, from_schema, caller) RETURNING deployment.id INTO dep_id;

  plan := stopgap._plan(src, true);
  FOR f IN SELECT * FROM jsonb_array_elements(plan) LOOP
    BEGIN
      kind := stopgap._export_kinds(f->>'artifact_hash')->>'default';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
      msg := format('cannot deploy %s.%s: its module fails to load: %s', from_schema, f->>'fn_name', msg);
      IF detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, DETAIL = detail, HINT = 'Nothing was deployed.';
      END IF;
      RAISE EXCEPTION USING MESSAGE = msg, ERRCODE = state, HINT = 'Nothing was deployed.';
    END;
    IF kind IS NULL THEN
      RAISE EXCEPTION 'cannot deploy %.%: its module has no default export', from_schema, f->>'fn_name'
        USING ERRCODE = 'invalid_object_definition',
              HINT = 'A plts function''s module must export default the function (or a query/mutation).';
    END IF;
    kinds := kinds || jsonb_build_object(f->>'fn_name', kind);
    PERFORM stopgap._pause_point('load');
    pointer := format('{"plts":1,"kind":"artifact_ptr","artifact_hash":%s,"export":"default","import_map":%s}',
                      to_json(f->>'artifact_hash'), f->'import_map');
    INSERT INTO stopgap.fn_version (deployment_id, fn_name, signature, identity_types, routine, arguments,
                                    result, clauses, kind, artifact_hash, source_sha256, imports, import_map,
                                    pointer, comment)
    VALUES (dep_id, f->>'fn_name', f->>'signature', f->>'identity_types', f->>'routine', f->>'arguments',
            f->>'result', f->>'clauses', kind, f->>'artifact_hash', f->>'source_sha256',
            ARRAY(SELECT jsonb_array_elements_text(f->'imports')), f->'import_map', pointer, f->>'comment');
  END LOOP;

  defs := stopgap._materialize(live, dep_id, 'deploy');
  UPDATE stopgap.fn_version v SET definition = defs->>v.fn_name WHERE v.deployment_id = dep_id;
  prune := stopgap._prune(live, dep_id);

  SELECT coalesce(jsonb_object_agg(format('@stopgap/%s/%s', from_schema, x->>'fn_name'),
                                   'plts+artifact:' || (x->>'artifact_hash')), '{}')
    INTO import_map FROM jsonb_array_elements(plan) AS x;
  new_manifest := jsonb_build_object(
    'format', 1,
    'env', e,
    'source_schema', from_schema,
    'live_schema', er.live_schema,
    'functions', (SELECT jsonb_agg(jsonb_build_object(
                           'fn_name', x->>'fn_name', 'signature', x->>'signature', 'routine', x->>'routine',
                           'result', x->'result', 'kind', kinds->>(x->>'fn_name'), 'artifact_hash', x->>'artifact_hash',
                           'imports', x->'imports') ORDER BY x->>'fn_name')
                    FROM jsonb_array_elements(plan) AS x),
    'import_map', import_map,
    'prune', prune);
  UPDATE stopgap.deployment SET manifest = new_manifest, status = 'sealed' WHERE deployment.id = dep_id;

  IF prev IS NOT NULL THEN
    UPDATE stopgap.deployment SET status = 'superseded' WHERE deployment.id = prev;
  END IF;
  UPDATE stopgap.deployment SET status = 'active' WHERE deployment.id = dep_id;
  UPDATE stopgap.environment SET active_deployment_id = dep_id, updated_at = now()
   WHERE environment.env = e;
  PERFORM stopgap._pause_point('activate');
  INSERT INTO stopgap.activation_log (env, action, from_deployment_id, to_deployment_id, actor, detail)
  VALUES (e, 'deploy', prev, dep_id, caller,
          jsonb_build_object('functions', jsonb_array_length(plan), 'prune', prune));
  PERFORM stopgap._log('log', format('stopgap: environment %s: deployment %s%s (%s functions from schema %s) '
                                     'activated by %s, replacing %s; pruned %s',
                                     e, dep_id, coalesce(format(' "%s"', label), ''), jsonb_array_length(plan),
                                     from_schema, caller, coalesce(prev::text, 'nothing'),
                                     jsonb_array_length(prune->'dropped')));
  RETURN dep_id;
END
$$;

CREATE FUNCTION stopgap.deploy(env text, from_schema text, label text DEFAULT NULL) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  started timestamptz := clock_timestamp();
  state text;
  id bigint;
BEGIN
  id := stopgap._deploy(stopgap._calling_role(), env, from_schema, label);
  PERFORM stopgap._record_metric('deploy', started, NULL);
  RETURN id;
EXCEPTION WHEN OTHERS OR QUERY_CANCELED THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
  PERFORM stopgap._record_metric('deploy', started, state);
  RAISE;
END
$$;
COMMENT ON FUNCTION stopgap.deploy(text, text, text) IS
  'compiles every plts function of from_schema and makes it live in the environment''s live schema; returns the deployment id';

-- ---------------------------------------------------------------------------------------------
-- Rollback.

CREATE FUNCTION stopgap._rollback(caller name, env text, steps integer, to_id bigint) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text := stopgap._env_name(env);
  er stopgap.environment;
  active bigint;
  target stopgap.deployment;
  earlier bigint;
  live oid;
  prune jsonb;
BEGIN
  PERFORM stopgap._require_writable('roll back');
  PERFORM stopgap._authorize(caller, 'roll back', NULL);
  PERFORM stopgap._lock(e);
  er := stopgap._environment(e, false, caller);
  live := stopgap._ensure_live_schema(e, er.live_schema);
  active := er.active_deployment_id;
  IF active IS NULL THEN
    RAISE EXCEPTION 'environment "%" has no active deployment', e USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF to_id IS NOT NULL THEN
    SELECT * INTO target FROM stopgap.deployment d WHERE d.id = to_id;
    IF NOT FOUND OR target.env <> e THEN
      RAISE EXCEPTION 'deployment % is not a deployment of environment "%"', to_id, e
        USING ERRCODE = 'undefined_object';
    ELSIF target.id = active THEN
      RAISE EXCEPTION 'deployment % is already active in environment "%"', to_id, e
        USING ERRCODE = 'object_not_in_prerequisite_state';
    ELSIF target.id > active OR target.status <> 'superseded' THEN
      RAISE EXCEPTION 'cannot roll environment "%" back to deployment %: it is % and not earlier than the active deployment %',
                      e, to_id, target.status, active
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Roll back only to a deployment that was superseded; deploy again to go forward.';
    END IF;
  ELSE
    IF steps IS NULL OR steps < 1 THEN
      RAISE EXCEPTION 'steps must be at least 1, not %', coalesce(steps::text, 'NULL')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO target FROM stopgap.deployment d
     WHERE d.env = e AND d.id < active AND d.status = 'superseded'
     ORDER BY d.id DESC OFFSET steps - 1 LIMIT 1;
    IF NOT FOUND THEN
      SELECT count(*) INTO earlier FROM stopgap.deployment d
       WHERE d.env = e AND d.id < active AND d.status = 'superseded';
      RAISE EXCEPTION 'cannot roll environment "%" back % step(s): that is past its first deployment', e, steps
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = format('Deployment %s is active; %s earlier deployment(s) can be rolled back to.', active, earlier);
    END IF;
  END IF;

  PERFORM stopgap._materialize(live, target.id, 'roll back');
  prune := stopgap._prune(live, target.id);
  UPDATE stopgap.deployment d SET status = 'rolled_back'
   WHERE d.env = e AND d.id > target.id AND d.status IN ('active', 'superseded');
  UPDATE stopgap.deployment d SET status = 'active' WHERE d.id = target.id;
  UPDATE stopgap.environment x SET active_deployment_id = target.id, updated_at = now() WHERE x.env = e;
  PERFORM stopgap._pause_point('activate');
  INSERT INTO stopgap.activation_log (env, action, from_deployment_id, to_deployment_id, actor, detail)
  VALUES (e, 'rollback', active, target.id, caller,
          jsonb_build_object('steps', CASE WHEN to_id IS NULL THEN steps END, 'to_id', to_id, 'prune', prune));
  PERFORM stopgap._log('log', format('stopgap: environment %s: rolled back from deployment %s to %s%s by %s',
                                     e, active, target.id, coalesce(format(' "%s"', target.label), ''), caller));
  RETURN target.id;
END
$$;

CREATE FUNCTION stopgap.rollback(env text, steps integer DEFAULT 1, to_id bigint DEFAULT NULL) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  started timestamptz := clock_timestamp();
  state text;
  id bigint;
BEGIN
  id := stopgap._rollback(stopgap._calling_role(), env, steps, to_id);
  PERFORM stopgap._record_metric('rollback', started, NULL);
  RETURN id;
EXCEPTION WHEN OTHERS OR QUERY_CANCELED THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
  PERFORM stopgap._record_metric('rollback', started, state);
  RAISE;
END
$$;
COMMENT ON FUNCTION stopgap.rollback(text, integer, bigint) IS
  'makes an earlier deployment live again (steps back, or to_id); returns its id';

-- ---------------------------------------------------------------------------------------------
-- Diff: what deploy(env, from_schema) would change, compiled but not stored.

CREATE FUNCTION stopgap._diff(caller name, env text, from_schema text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text := stopgap._env_name(env);
  src oid;
  active bigint;
  plan jsonb;
  fns jsonb := '[]';
  f jsonb;
  v stopgap.fn_version;
  reasons text[];
  change text;
BEGIN
  src := stopgap._authorize(caller, 'diff', from_schema);
  SELECT x.active_deployment_id INTO active FROM stopgap.environment x WHERE x.env = e;
  plan := stopgap._plan(src, false);
  FOR f IN SELECT * FROM jsonb_array_elements(plan) LOOP
    SELECT * INTO v FROM stopgap.fn_version x WHERE x.deployment_id = active AND x.fn_name = f->>'fn_name';
    reasons := '{}';
    IF NOT FOUND THEN
      change := 'added';
    ELSE
      IF v.source_sha256 <> f->>'source_sha256' THEN reasons := reasons || 'body'::text; END IF;
      IF v.import_map <> f->'import_map' THEN reasons := reasons || 'imports'::text; END IF;
      IF (v.routine, v.arguments, v.result) IS DISTINCT FROM (f->>'routine', f->>'arguments', f->>'result') THEN
        reasons := reasons || 'signature'::text;
      ELSIF v.clauses <> f->>'clauses' THEN
        reasons := reasons || 'attributes'::text;
      END IF;
      IF v.artifact_hash <> f->>'artifact_hash' AND cardinality(reasons) = 0 THEN
        reasons := reasons || 'compiler'::text;
      END IF;
      change := CASE WHEN cardinality(reasons) = 0 THEN 'unchanged' ELSE 'changed' END;
    END IF;
    fns := fns || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
      'fn_name', f->>'fn_name',
      'change', change,
      'signature', f->>'signature',
      'artifact_hash', f->>'artifact_hash',
      'active_artifact_hash', v.artifact_hash,
      'reasons', CASE WHEN change = 'changed' THEN to_jsonb(reasons) END,
      'error', f->'error')));
  END LOOP;
  FOR v IN SELECT * FROM stopgap.fn_version x
            WHERE x.deployment_id = active
              AND NOT EXISTS (SELECT FROM jsonb_array_elements(plan) AS p WHERE p->>'fn_name' = x.fn_name)
  LOOP
    fns := fns || jsonb_build_array(jsonb_build_object(
      'fn_name', v.fn_name, 'change', 'removed', 'signature', v.signature, 'active_artifact_hash', v.artifact_hash));
  END LOOP;
  SELECT jsonb_agg(x ORDER BY x->>'fn_name') INTO fns FROM jsonb_array_elements(fns) AS x;
  RETURN jsonb_build_object(
    'env', e,
    'from_schema', from_schema,
    'active_deployment_id', active,
    'summary', (SELECT jsonb_build_object(
                  'added', count(*) FILTER (WHERE x->>'change' = 'added'),
                  'changed', count(*) FILTER (WHERE x->>'change' = 'changed'),
                  'removed', count(*) FILTER (WHERE x->>'change' = 'removed'),
                  'unchanged', count(*) FILTER (WHERE x->>'change' = 'unchanged'),
                  'errors', count(*) FILTER (WHERE x ? 'error'))
                  FROM jsonb_array_elements(fns) AS x),
    'functions', fns);
END
$$;

CREATE FUNCTION stopgap.diff(env text, from_schema text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  started timestamptz := clock_timestamp();
  state text;
  result jsonb;
BEGIN
  result := stopgap._diff(stopgap._calling_role(), env, from_schema);
  PERFORM stopgap._record_metric('diff', started, NULL);
  RETURN result;
EXCEPTION WHEN OTHERS OR QUERY_CANCELED THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
  PERFORM stopgap._record_metric('diff', started, state);
  RAISE;
END
$$;
COMMENT ON FUNCTION stopgap.diff(text, text) IS
  'dry run of deploy: {summary {added, changed, removed, unchanged, errors}, functions [{fn_name, change, ...}]}';

-- ---------------------------------------------------------------------------------------------
-- Introspection (SECURITY INVOKER: needs SELECT on the catalog, granted to stopgap_deployer).

-- How a live function's privileges differ from what stopgap grants (EXECUTE to its owner and to
-- app_user, nothing else): {granted: [...], revoked: [...]}, or NULL when they do not.
CREATE FUNCTION stopgap._privilege_drift(fn oid) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH actual AS (
    SELECT a.grantee, a.privilege_type, a.is_grantable
      FROM pg_proc x, aclexplode(coalesce(x.proacl, acldefault('f', x.proowner))) a WHERE x.oid = fn
  ), expected AS (
    SELECT x.proowner AS grantee, 'EXECUTE'::text AS privilege_type, false AS is_grantable
      FROM pg_proc x WHERE x.oid = fn
    UNION
    SELECT r.oid, 'EXECUTE', false FROM pg_roles r WHERE r.rolname = 'app_user'
  ), diff AS (
    SELECT 'granted' AS side, * FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected) g
    UNION ALL
    SELECT 'revoked', * FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual) r
  )
  SELECT CASE WHEN count(*) > 0 THEN jsonb_build_object(
           'granted', coalesce(jsonb_agg(d.item ORDER BY d.item) FILTER (WHERE d.side = 'granted'), '[]'),
           'revoked', coalesce(jsonb_agg(d.item ORDER BY d.item) FILTER (WHERE d.side = 'revoked'), '[]')) END
    FROM (SELECT diff.side,
                 format('%s: %s%s', CASE WHEN diff.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(diff.grantee)::text END,
                        diff.privilege_type, CASE WHEN diff.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS item
            FROM diff) d;
END;

-- What differs in an environment's live schema from what its active deployment wrote:
-- {drift: [{fn_name, signature, problem, ...}], retained: [signature]}. Problems: live_schema_missing,
-- missing, artifact_missing, modified, owner_changed, privileges_changed, unexpected. Retained
-- functions are earlier deployments' pointers left in place (stopgap.prune off).
CREATE FUNCTION stopgap._drift(env text) RETURNS jsonb
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  er stopgap.environment;
  live oid;
  v stopgap.fn_version;
  fn oid;
  def text;
  privileges jsonb;
  drift jsonb := '[]';
  retained jsonb := '[]';
  p record;
BEGIN
  SELECT * INTO er FROM stopgap.environment x WHERE x.env = _drift.env;
  SELECT n.oid INTO live FROM pg_namespace n WHERE n.nspname = er.live_schema;
  IF live IS NULL THEN
    RETURN jsonb_build_object(
      'drift', jsonb_build_array(jsonb_build_object('problem', 'live_schema_missing', 'schema', er.live_schema)),
      'retained', retained);
  END IF;
  -- What stopgap wrote, compared with what is there.
  FOR v IN SELECT * FROM stopgap.fn_version x WHERE x.deployment_id = er.active_deployment_id ORDER BY x.fn_name LOOP
    SELECT x.oid INTO fn FROM pg_proc x
     WHERE x.pronamespace = live AND x.proname = v.fn_name AND stopgap._identity_types(x.oid) = v.identity_types;
    IF fn IS NULL THEN
      drift := drift || jsonb_build_array(jsonb_build_object('fn_name', v.fn_name, 'signature', v.signature,
                                                             'problem', 'missing'));
      CONTINUE;
    END IF;
    def := pg_get_functiondef(fn);
    IF NOT EXISTS (SELECT FROM plts.artifact a WHERE a.artifact_hash = v.artifact_hash) THEN
      drift := drift || jsonb_build_array(jsonb_build_object('fn_name', v.fn_name, 'signature', v.signature,
                                                             'problem', 'artifact_missing'));
    ELSIF def IS DISTINCT FROM v.definition THEN
      drift := drift || jsonb_build_array(jsonb_build_object(
        'fn_name', v.fn_name, 'signature', v.signature, 'problem', 'modified',
        'body_changed', (SELECT x.prosrc FROM pg_proc x WHERE x.oid = fn) IS DISTINCT FROM v.pointer));
    ELSIF (SELECT x.proowner FROM pg_proc x WHERE x.oid = fn) <> 'stopgap_owner'::regrole THEN
      drift := drift || jsonb_build_array(jsonb_build_object('fn_name', v.fn_name, 'signature', v.signature,
                                                             'problem', 'owner_changed'));
    END IF;
    privileges := stopgap._privilege_drift(fn);
    IF privileges IS NOT NULL THEN
      drift := drift || jsonb_build_array(jsonb_build_object('fn_name', v.fn_name, 'signature', v.signature,
                                                             'problem', 'privileges_changed') || privileges);
    END IF;
  END LOOP;
  -- Live functions the active deployment lacks: left by earlier deployments (not pruned), or
  -- never written by stopgap.
  FOR p IN
    SELECT x.proname, format('%s(%s)', x.proname, pg_get_function_identity_arguments(x.oid)) AS signature,
           EXISTS (SELECT FROM stopgap.fn_version w JOIN stopgap.deployment y ON y.id = w.deployment_id
                    WHERE y.env = er.env AND w.fn_name = x.proname AND w.pointer = x.prosrc) AS known
      FROM pg_proc x
     WHERE x.pronamespace = live
       AND NOT EXISTS (SELECT FROM stopgap.fn_version w
                        WHERE w.deployment_id = er.active_deployment_id AND w.fn_name = x.proname
                          AND w.identity_types = stopgap._identity_types(x.oid))
     ORDER BY 1, 2
  LOOP
    IF p.known THEN
      retained := retained || to_jsonb(p.signature);
    ELSE
      drift := drift || jsonb_build_array(jsonb_build_object('fn_name', p.proname, 'signature', p.signature,
                                                             'problem', 'unexpected'));
    END IF;
  END LOOP;
  RETURN jsonb_build_object('drift', drift, 'retained', retained);
END
$$;

CREATE FUNCTION stopgap.status(env text DEFAULT NULL) RETURNS jsonb
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text := stopgap._env_name(env);
  er stopgap.environment;
  d stopgap.deployment;
  drift jsonb;
BEGIN
  SELECT * INTO er FROM stopgap.environment x WHERE x.env = e;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'environment "%" does not exist', e
      USING ERRCODE = 'undefined_object', HINT = 'An environment is created by its first stopgap.deploy.';
  END IF;
  SELECT * INTO d FROM stopgap.deployment x WHERE x.id = er.active_deployment_id;
  drift := stopgap._drift(e);
  RETURN jsonb_build_object(
    'env', e,
    'live_schema', er.live_schema,
    'active_deployment', CASE WHEN d.id IS NOT NULL THEN jsonb_build_object(
        'id', d.id, 'label', d.label, 'status', d.status, 'source_schema', d.source_schema,
        'created_at', d.created_at, 'created_by', d.created_by,
        'activated_at', (SELECT max(l.activated_at) FROM stopgap.activation_log l
                          WHERE l.env = e AND l.to_deployment_id = d.id)) END,
    'function_count', (SELECT count(*) FROM stopgap.fn_version x WHERE x.deployment_id = d.id),
    'drifted', jsonb_array_length(drift->'drift') > 0,
    'drift', drift->'drift',
    'retained', drift->'retained');
END
$$;
COMMENT ON FUNCTION stopgap.status(text) IS
  'an environment''s live schema, active deployment, function count and drift (privileges included)';

-- The catalog's invariants, one row per violation (none: healthy). For operators after an
-- incident and for the project's tests after load, races and killed deploys.
CREATE FUNCTION stopgap.check(environment text DEFAULT NULL)
  RETURNS TABLE (env text, problem text, detail jsonb)
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e text;
  er stopgap.environment;
  active_ids bigint[];
  last_log stopgap.activation_log;
  item jsonb;
BEGIN
  IF environment IS NOT NULL THEN
    e := stopgap._env_name(environment);
    IF NOT EXISTS (SELECT FROM stopgap.environment x WHERE x.env = e) THEN
      RAISE EXCEPTION 'environment "%" does not exist', e USING ERRCODE = 'undefined_object';
    END IF;
  END IF;
  -- Deployments left between open and active: a deploy commits all of it or nothing.
  FOR env, detail IN
    SELECT d.env, jsonb_build_object('deployment_id', d.id, 'status', d.status)
      FROM stopgap.deployment d
     WHERE d.status IN ('open', 'sealed') AND (e IS NULL OR d.env = e) ORDER BY d.id
  LOOP
    problem := 'unfinished_deployment';
    RETURN NEXT;
  END LOOP;
  FOR er IN SELECT * FROM stopgap.environment x WHERE e IS NULL OR x.env = e ORDER BY x.env LOOP
    env := er.env;
    SELECT coalesce(array_agg(d.id ORDER BY d.id), '{}') INTO active_ids
      FROM stopgap.deployment d WHERE d.env = er.env AND d.status = 'active';
    IF active_ids IS DISTINCT FROM ARRAY[er.active_deployment_id]
       AND NOT (er.active_deployment_id IS NULL AND cardinality(active_ids) = 0) THEN
      problem := 'active_deployment_mismatch';
      detail := jsonb_build_object('environment_says', er.active_deployment_id, 'active_deployments', active_ids);
      RETURN NEXT;
    END IF;
    IF er.active_deployment_id IS NULL AND EXISTS (SELECT FROM stopgap.deployment d WHERE d.env = er.env) THEN
      problem := 'no_active_deployment';
      detail := jsonb_build_object('deployments', (SELECT count(*) FROM stopgap.deployment d WHERE d.env = er.env));
      RETURN NEXT;
    END IF;
    SELECT * INTO last_log FROM stopgap.activation_log l WHERE l.env = er.env ORDER BY l.id DESC LIMIT 1;
    IF last_log.to_deployment_id IS DISTINCT FROM er.active_deployment_id THEN
      problem := 'activation_log_mismatch';
      detail := jsonb_build_object('last_activation', last_log.id, 'activated', last_log.to_deployment_id,
                                   'active_deployment_id', er.active_deployment_id);
      RETURN NEXT;
    END IF;
    -- Every function version keeps its artifact: rollback may need any superseded one.
    FOR detail IN
      SELECT jsonb_build_object('deployment_id', v.deployment_id, 'fn_name', v.fn_name,
                                'artifact_hash', v.artifact_hash)
        FROM stopgap.fn_version v JOIN stopgap.deployment d ON d.id = v.deployment_id
       WHERE d.env = er.env AND NOT EXISTS (SELECT FROM plts.artifact a WHERE a.artifact_hash = v.artifact_hash)
       ORDER BY v.deployment_id, v.fn_name
    LOOP
      problem := 'artifact_missing';
      RETURN NEXT;
    END LOOP;
    -- The live pointers are the recorded stubs, and those name the recorded artifacts.
    FOR detail IN
      SELECT jsonb_build_object('fn_name', v.fn_name, 'artifact_hash', v.artifact_hash,
                                'live_artifact_hash', x.stub->>'artifact_hash', 'live_export', x.stub->>'export')
        FROM stopgap.fn_version v
        JOIN pg_namespace n ON n.nspname = er.live_schema
        JOIN pg_proc p ON p.pronamespace = n.oid AND p.proname = v.fn_name
                      AND stopgap._identity_types(p.oid) = v.identity_types
        CROSS JOIN LATERAL (SELECT v.pointer::jsonb AS stub) x
       WHERE v.deployment_id = er.active_deployment_id
         AND (p.prosrc IS DISTINCT FROM v.pointer OR x.stub->>'artifact_hash' IS DISTINCT FROM v.artifact_hash
              OR x.stub->>'export' IS DISTINCT FROM 'default')
       ORDER BY v.fn_name
    LOOP
      problem := 'pointer_mismatch';
      RETURN NEXT;
    END LOOP;
    FOR item IN SELECT * FROM jsonb_array_elements(stopgap._drift(er.env)->'drift') LOOP
      problem := 'drift_' || (item->>'problem');
      detail := item - 'problem';
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION stopgap.check(text) IS
  'violations of stopgap''s catalog invariants, one row each (none: healthy); NULL env: every environment';

CREATE FUNCTION stopgap.deployments(env text DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', d.id, 'label', d.label, 'status', d.status, 'source_schema', d.source_schema,
           'created_at', d.created_at, 'created_by', d.created_by,
           'is_active', d.id IS NOT DISTINCT FROM e.active_deployment_id,
           'functions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'fn_name', v.fn_name, 'signature', v.signature, 'routine', v.routine,
                                  'kind', v.kind,
                                  'artifact_hash', v.artifact_hash) ORDER BY v.fn_name), '[]')
                           FROM stopgap.fn_version v WHERE v.deployment_id = d.id))
           ORDER BY d.id DESC), '[]')
    FROM stopgap.deployment d
    LEFT JOIN stopgap.environment e ON e.env = d.env
   WHERE d.env = stopgap._env_name(deployments.env);
END;
COMMENT ON FUNCTION stopgap.deployments(text) IS 'an environment''s deployments, newest first';

-- ---------------------------------------------------------------------------------------------
-- Privileges.

REVOKE ALL ON FUNCTION
  stopgap._record_metric(text, timestamptz, text), stopgap._log(text, text), stopgap._calling_role(),
  stopgap._live_schema_setting(),
  stopgap._deployment_guard(), stopgap._fn_version_guard(), stopgap._env_name(text),
  stopgap._identity_types(oid), stopgap._pause_point(text), stopgap._lock(text),
  stopgap._require_writable(text),
  stopgap._authorize(name, text, text), stopgap._environment(text, boolean, name),
  stopgap._ensure_live_schema(text, name), stopgap._bake_import_map(text, jsonb, text),
  stopgap._plan(oid, boolean), stopgap._export_kinds(text), stopgap._materialize(oid, bigint, text),
  stopgap._routine("char"),
  stopgap._prune(oid, bigint), stopgap._deploy(name, text, text, text),
  stopgap._rollback(name, text, integer, bigint), stopgap._diff(name, text, text),
  stopgap._privilege_drift(oid), stopgap._drift(text),
  stopgap.deploy(text, text, text), stopgap.rollback(text, integer, bigint), stopgap.diff(text, text),
  stopgap.status(text), stopgap.deployments(text), stopgap.check(text)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
  stopgap.deploy(text, text, text), stopgap.rollback(text, integer, bigint), stopgap.diff(text, text),
  stopgap.status(text), stopgap.deployments(text), stopgap.check(text),
  stopgap._env_name(text), stopgap._identity_types(oid), stopgap._privilege_drift(oid), stopgap._drift(text)
TO stopgap_deployer;

GRANT SELECT ON stopgap.environment, stopgap.deployment, stopgap.fn_version, stopgap.activation_log,
  stopgap.activation_audit, stopgap.environment_overview
TO stopgap_deployer;
