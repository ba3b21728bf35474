-- stopgap 0.1.0 -> 0.2.0. A fresh CREATE EXTENSION runs stopgap--0.1.0.sql and then this script,
-- so a new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION stopgap UPDATE TO '0.2.0'" to load this file. \quit

-- ---- upgrade fixes: stopgap 0.2.0 needs plts 0.2.0 (first in the script: a precondition)
-- stopgap 0.2.0's deploy calls functions that plts 0.2.0 adds (plts._typecheck_modules): with plts
-- still at 0.1.0 this update would go through and every deploy fail afterwards. Refuse it and say
-- what to do. A fresh CREATE EXTENSION stopgap finds plts at its default version (CASCADE installs
-- that one); only plts created explicitly as VERSION '0.1.0' is refused here.
DO $upgrade_fixes$
DECLARE
  plts_version text := (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'plts');
BEGIN
  IF plts_version = '0.1.0' THEN
    RAISE EXCEPTION 'stopgap 0.2.0 needs plts 0.2.0, but plts is at version %', plts_version
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run ALTER EXTENSION plts UPDATE first, then ALTER EXTENSION stopgap UPDATE.';
  END IF;
END
$upgrade_fixes$;

-- ---- lifecycle: DROP EXTENSION guard, stopgap.drop_environment, stopgap.source
-- DROP EXTENSION stopgap would delete every environment's history while the live functions go on
-- running. It is refused while environments exist; stopgap.drop_environment removes one
-- environment (live schema and history) on purpose. stopgap.source shows what a live function runs.

-- The guard (extensions/stopgap/drop_guard.cpp). It reads the DropStmt and returns at once for
-- anything that cannot drop stopgap. DROP SCHEMA is watched too: stopgap is created in a schema
-- (public, usually) and DROP SCHEMA public CASCADE drops it. The event trigger is a member of the
-- extension: a DROP EXTENSION that goes through drops it with the rest.
CREATE FUNCTION stopgap._drop_guard() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'stopgap_drop_guard';
CREATE EVENT TRIGGER stopgap_drop_guard ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
  EXECUTE FUNCTION stopgap._drop_guard();
COMMENT ON EVENT TRIGGER stopgap_drop_guard IS
  'stopgap: refuses to drop the extension (or what it depends on, with CASCADE) while environments exist';

-- The guards of 0.1.0, unchanged except that they let stopgap.drop_environment delete the history
-- of the environment it drops: it names that environment in the transaction-local setting
-- stopgap_lifecycle.dropping_environment (not under the "stopgap." prefix, which stopgap.so
-- reserves for its own settings). Anyone may set it, and that is safe: these triggers refuse
-- deletes, they do not grant them. Only the tables' owner (the superuser that created the
-- extension) and superusers may DELETE these rows at all, and they can bypass triggers anyway;
-- stopgap_deployer has SELECT only, and deploy and rollback (which run as the owner) never delete
-- a sealed deployment, whatever the setting says.
CREATE OR REPLACE FUNCTION stopgap._deployment_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'open'
       AND current_setting('stopgap_lifecycle.dropping_environment', true) IS DISTINCT FROM OLD.env THEN
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

CREATE OR REPLACE FUNCTION stopgap._fn_version_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  st text;
  e text;
BEGIN
  SELECT d.status, d.env INTO st, e FROM stopgap.deployment d WHERE d.id = OLD.deployment_id;
  IF TG_OP = 'DELETE' AND e IS NOT NULL
     AND current_setting('stopgap_lifecycle.dropping_environment', true) = e THEN
    RETURN OLD;
  END IF;
  IF st IS DISTINCT FROM 'open' OR (TG_OP = 'UPDATE' AND NEW.deployment_id <> OLD.deployment_id) THEN
    RAISE EXCEPTION 'functions of deployment % are sealed', OLD.deployment_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Drops an environment: its live schema (RESTRICT-style: only the pointer functions stopgap wrote
-- there go with it; anything else in the schema or depending on them stops it, nothing changed)
-- and its history. Artifacts stay in plts.artifact: they are shared and content-addressed.
CREATE FUNCTION stopgap.drop_environment(env text) RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  er stopgap.environment;
  live oid;
  pointers oid[] := '{}';
  blockers text[];
  fn regprocedure;
  deployments bigint;
BEGIN
  IF env IS NULL THEN
    RAISE EXCEPTION 'stopgap.drop_environment needs an environment name, not NULL'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM stopgap._require_writable('drop an environment');
  PERFORM stopgap._lock(env);
  SELECT * INTO er FROM stopgap.environment x WHERE x.env = drop_environment.env FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'environment "%" does not exist', env
      USING ERRCODE = 'undefined_object', HINT = 'SELECT env FROM stopgap.environment lists them.';
  END IF;
  SELECT n.oid INTO live FROM pg_namespace n WHERE n.nspname = er.live_schema;
  IF live IS NOT NULL THEN
    -- stopgap's own: routines of the live schema whose body is a pointer stub that one of this
    -- environment's deployments wrote under that name.
    SELECT coalesce(array_agg(p.oid ORDER BY p.oid), '{}') INTO pointers
      FROM pg_proc p
     WHERE p.pronamespace = live
       AND EXISTS (SELECT FROM stopgap.fn_version v JOIN stopgap.deployment d ON d.id = v.deployment_id
                    WHERE d.env = er.env AND v.fn_name = p.proname AND v.pointer = p.prosrc);
    -- Everything else in the schema, and whatever depends on those pointers (a view, a trigger, a
    -- default, another routine's body).
    SELECT array_agg(x.what ORDER BY x.what) INTO blockers
      FROM (SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
              FROM pg_depend d
             WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = live
               AND NOT (d.classid = 'pg_proc'::regclass AND d.objid = ANY (pointers))
            UNION
            SELECT DISTINCT format('%s (depends on %s)',
                                   -- a view depends through its rewrite rule: name the view
                                   coalesce((SELECT pg_describe_object('pg_class'::regclass, r.ev_class, 0)
                                               FROM pg_rewrite r
                                              WHERE d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid),
                                            pg_describe_object(d.classid, d.objid, d.objsubid)),
                                   pg_describe_object(d.refclassid, d.refobjid, 0))
              FROM pg_depend d
             WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY (pointers)
               AND d.deptype IN ('n', 'a')) x;
    IF blockers IS NOT NULL THEN
      RAISE EXCEPTION 'cannot drop environment "%": other objects are in its live schema "%" or depend on its live functions',
                      er.env, er.live_schema
        USING ERRCODE = 'dependent_objects_still_exist',
              DETAIL = array_to_string(blockers[1:20], E'\n')
                       || CASE WHEN cardinality(blockers) > 20
                               THEN format(E'\nand %s more', cardinality(blockers) - 20) ELSE '' END,
              HINT = 'Nothing was changed. Drop those objects (or move them to another schema), then drop '
                     'the environment again.';
    END IF;
    FOREACH fn IN ARRAY pointers::regprocedure[] LOOP
      EXECUTE format('DROP ROUTINE %s', fn);
    END LOOP;
    EXECUTE format('DROP SCHEMA %I', er.live_schema);
  END IF;
  SELECT count(*) INTO deployments FROM stopgap.deployment d WHERE d.env = er.env;
  PERFORM set_config('stopgap_lifecycle.dropping_environment', er.env, true);
  DELETE FROM stopgap.activation_log l WHERE l.env = er.env;
  DELETE FROM stopgap.fn_version v USING stopgap.deployment d WHERE d.id = v.deployment_id AND d.env = er.env;
  DELETE FROM stopgap.deployment d WHERE d.env = er.env;
  DELETE FROM stopgap.environment x WHERE x.env = er.env;
  PERFORM set_config('stopgap_lifecycle.dropping_environment', '', true);
  PERFORM stopgap._log('log', format('stopgap: environment %s dropped by %s: live schema %s (%s functions), %s deployments',
                                     er.env, current_user, er.live_schema, cardinality(pointers), deployments));
END
$$;
COMMENT ON FUNCTION stopgap.drop_environment(text) IS
  'superuser only: drops an environment''s live schema (refused if it holds anything but stopgap''s pointers, '
  'or something depends on them) and deletes its deployments, function versions and activation log';

-- The TypeScript a plts function runs: a pointer function's artifact source (with the import map
-- stopgap baked in), or a plts function's own body.
CREATE FUNCTION stopgap.source(fn regprocedure) RETURNS text
  LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src text;
  lang name;
  stub jsonb;
  hash text;
  ts text;
BEGIN
  SELECT p.prosrc, l.lanname INTO src, lang FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = fn;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'function with OID % does not exist', fn::oid USING ERRCODE = 'undefined_function';
  END IF;
  IF lang <> 'plts' THEN
    RAISE EXCEPTION '% is not a plts function: its language is %', fn, lang
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'stopgap.source shows the TypeScript of LANGUAGE plts functions; \sf shows any function.';
  END IF;
  -- As plts reads a body: a JSON object with a "plts" key is a pointer stub, anything else source.
  IF src !~ '^\s*\{' THEN
    RETURN src;
  END IF;
  BEGIN
    stub := src::jsonb;
  EXCEPTION WHEN invalid_text_representation THEN
    RETURN src;
  END;
  IF jsonb_typeof(stub) <> 'object' OR NOT stub ? 'plts' THEN
    RETURN src;
  END IF;
  hash := regexp_replace(stub->>'artifact_hash', '^plts\+artifact:', '');
  IF stub->>'kind' IS DISTINCT FROM 'artifact_ptr' OR hash IS NULL THEN
    RAISE EXCEPTION 'malformed plts pointer stub in %', fn
      USING ERRCODE = 'invalid_function_definition',
            HINT = 'Expected {"plts":1,"kind":"artifact_ptr","artifact_hash":"sha256:...",...}';
  END IF;
  SELECT a.source_ts INTO ts FROM plts.artifact a WHERE a.artifact_hash = hash;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'artifact % of % does not exist', hash, fn
      USING ERRCODE = 'undefined_object',
            HINT = 'stopgap.check() lists missing artifacts; a deploy or rollback writes them again.';
  END IF;
  RETURN ts;
END
$$;
COMMENT ON FUNCTION stopgap.source(regprocedure) IS
  'the TypeScript a plts function runs: a live pointer''s artifact source, or the function''s own body; '
  'anyone may call it (plts.artifact and pg_proc are readable by PUBLIC)';

REVOKE ALL ON FUNCTION stopgap._drop_guard(), stopgap.drop_environment(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stopgap.source(regprocedure) TO PUBLIC;

-- ---- engine: deploy, rollback and diff move into stopgap.so (extensions/stopgap/*.cpp)
-- The catalog, its guard triggers, the views and the grants stay SQL; the engine that was
-- PL/pgSQL here in 0.1.0 is C++ over SPI. The entry points keep their names, arguments and
-- security model: SECURITY DEFINER, search_path pinned, EXECUTE for stopgap_deployer only, the
-- calling role checked inside.
DROP FUNCTION stopgap._deploy(name, text, text, text);
DROP FUNCTION stopgap._rollback(name, text, integer, bigint);
DROP FUNCTION stopgap._diff(name, text, text);
DROP FUNCTION stopgap._plan(oid, boolean);
DROP FUNCTION stopgap._materialize(oid, bigint, text);
DROP FUNCTION stopgap._prune(oid, bigint);
DROP FUNCTION stopgap._environment(text, boolean, name);
DROP FUNCTION stopgap._ensure_live_schema(text, name);
DROP FUNCTION stopgap._authorize(name, text, text);
DROP FUNCTION stopgap._bake_import_map(text, jsonb, text);
DROP FUNCTION stopgap._routine("char");
DROP FUNCTION stopgap._pause_point(text);
DROP FUNCTION stopgap._record_metric(text, timestamptz, text);

-- Redeploying what is already active records nothing; deploy(env, from_schema, label, force)
-- deploys anyway. The 0.1.0 signature stays as it was, so grants and calls that name it hold.
CREATE OR REPLACE FUNCTION stopgap.deploy(env text, from_schema text, label text DEFAULT NULL) RETURNS bigint
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_deploy';
COMMENT ON FUNCTION stopgap.deploy(text, text, text) IS
  'compiles and type-checks every plts function of from_schema and makes it live in the environment''s live '
  'schema; returns the deployment id (the active one, recording nothing, when nothing changed)';
CREATE FUNCTION stopgap.deploy(env text, from_schema text, label text, force boolean) RETURNS bigint
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_deploy';
COMMENT ON FUNCTION stopgap.deploy(text, text, text, boolean) IS
  'stopgap.deploy(env, from_schema, label) that, with force, records and activates a new deployment even '
  'when nothing changed';

CREATE OR REPLACE FUNCTION stopgap.rollback(env text, steps integer DEFAULT 1, to_id bigint DEFAULT NULL)
  RETURNS bigint
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_rollback';

CREATE OR REPLACE FUNCTION stopgap.diff(env text, from_schema text) RETURNS jsonb
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_diff';
COMMENT ON FUNCTION stopgap.diff(text, text) IS
  'dry run of deploy: {summary {added, changed, removed, unchanged, errors}, functions [{fn_name, change, ...}], '
  'errors [{function, message, sqlstate, position}]}: every problem a deploy would raise, as data';

-- An environment and its live schema exist from this call on, so app roles can be granted USAGE
-- on the live schema before the first deploy.
CREATE FUNCTION stopgap.create_environment(env text, live_schema text DEFAULT NULL) RETURNS text
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_create_environment';
COMMENT ON FUNCTION stopgap.create_environment(text, text) IS
  'creates an environment and its live schema (live_schema, default stopgap.live_schema); returns the schema';

-- Type-check results by artifact: an artifact's hash covers its source, the compiler and (through
-- the import map baked into it) everything it imports, so its diagnostics never change. A cache:
-- pg_dump leaves it out and deploys fill it again.
CREATE TABLE stopgap.typecheck_cache (
  artifact_hash text PRIMARY KEY,
  diagnostics jsonb NOT NULL,
  checked_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stopgap.typecheck_cache IS 'stopgap.deploy''s type-check diagnostics by artifact (a cache)';

-- Planning finds what earlier deployments already compiled by source and by artifact.
CREATE INDEX fn_version_source ON stopgap.fn_version (source_sha256);
CREATE INDEX fn_version_artifact ON stopgap.fn_version (artifact_hash);

REVOKE ALL ON FUNCTION stopgap.deploy(text, text, text, boolean), stopgap.create_environment(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stopgap.deploy(text, text, text, boolean), stopgap.create_environment(text, text)
  TO stopgap_deployer;
GRANT SELECT ON stopgap.typecheck_cache TO stopgap_deployer;

-- ---- engine: status and drift in stopgap.so too (extensions/stopgap/status.cpp)
-- SECURITY INVOKER as before: they read the catalog with the caller's SELECT privileges.
-- stopgap.check() stays SQL and calls stopgap._drift.
CREATE OR REPLACE FUNCTION stopgap._drift(env text) RETURNS jsonb
  LANGUAGE c STABLE SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_drift';
CREATE OR REPLACE FUNCTION stopgap.status(env text DEFAULT NULL) RETURNS jsonb
  LANGUAGE c STABLE SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_status';
