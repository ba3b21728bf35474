-- stopgap 0.2.0 -> 0.3.0. A fresh CREATE EXTENSION runs stopgap--0.1.0.sql and the update scripts
-- in order, so a new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION stopgap UPDATE TO '0.3.0'" to load this file. \quit

-- ---- upgrade fixes: stopgap 0.3.0 needs plts 0.3.0 (first in the script: a precondition)
DO $upgrade_fixes$
DECLARE
  plts_version text := (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'plts');
BEGIN
  IF plts_version IN ('0.1.0', '0.2.0') THEN
    RAISE EXCEPTION 'stopgap 0.3.0 needs plts 0.3.0, but plts is at version %', plts_version
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run ALTER EXTENSION plts UPDATE first, then ALTER EXTENSION stopgap UPDATE.';
  END IF;
END
$upgrade_fixes$;

-- ---- projects (issue 16): TypeScript files deployed as a project, functions called by path
-- A project deployment has no source schema: its functions come from modules (files).
ALTER TABLE stopgap.deployment ALTER COLUMN source_schema DROP NOT NULL;

-- Per function of a project deployment: its path (api.users.profile.get), the module it comes
-- from (users/profile.ts) and the export (get). NULL for functions deployed from a schema.
ALTER TABLE stopgap.fn_version ADD COLUMN path text, ADD COLUMN module text, ADD COLUMN export_name text;
CREATE UNIQUE INDEX fn_version_path ON stopgap.fn_version (deployment_id, path) WHERE path IS NOT NULL;

-- Every module (file) of a project deployment, helpers and npm package files included: what it
-- was stored as and what its imports resolved to. It keeps their artifacts referenced.
CREATE TABLE stopgap.module_version (
  -- ON DELETE CASCADE: stopgap.drop_environment deletes an environment's deployments
  deployment_id bigint NOT NULL REFERENCES stopgap.deployment (id) ON DELETE CASCADE,
  module text NOT NULL,          -- users/profile.ts, node_modules/zod/index.js
  artifact_hash text NOT NULL,   -- in plts.artifact
  source_sha256 text NOT NULL,   -- of the file as sent
  imports jsonb NOT NULL DEFAULT '{}',  -- specifier as written -> module it resolved to
  PRIMARY KEY (deployment_id, module)
);
COMMENT ON TABLE stopgap.module_version IS 'one row per module (file) of a project deployment';
CREATE INDEX module_version_artifact ON stopgap.module_version (artifact_hash);
GRANT SELECT ON stopgap.module_version TO stopgap_deployer;

CREATE FUNCTION stopgap.deploy_project(env text, project jsonb, label text DEFAULT NULL,
                                       options jsonb DEFAULT '{}') RETURNS jsonb
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'stopgap_deploy_project';
COMMENT ON FUNCTION stopgap.deploy_project(text, jsonb, text, jsonb) IS
  'deploys a project of TypeScript modules: project {"modules": {"users/profile.ts": source, ...}, "resolve": '
  '{module: {bare specifier: module}}}, options {force, prune, dry_run}; returns the deploy report (docs/CLI.md)';

-- SECURITY INVOKER, and no SET search_path: the function it calls runs as if called directly (its
-- SQL sees the caller's search_path); call_fn's own statements name everything schema-qualified.
CREATE FUNCTION stopgap.call_fn(path text, args jsonb DEFAULT '{}', env text DEFAULT NULL) RETURNS jsonb
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'stopgap_call_fn';
COMMENT ON FUNCTION stopgap.call_fn(text, jsonb, text) IS
  'calls the function at path (api.users.profile.get) of the environment''s active deployment with args, as '
  'the caller (EXECUTE on the live function needed); env defaults to stopgap.default_env';

-- A project module's exports, loaded as stopgap_owner (as _export_kinds(text)) with its imports
-- resolved through the import map its live functions will carry.
CREATE FUNCTION stopgap._export_kinds(artifact_hash text, import_map jsonb) RETURNS jsonb
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  RETURN plts.artifact_exports(artifact_hash, import_map);
ALTER FUNCTION stopgap._export_kinds(text, jsonb) OWNER TO stopgap_owner;

-- call_fn's routing, for the roles that may call live functions (app_user, as live functions'
-- EXECUTE) and deployers: the live function at a path of the environment's active
-- deployment ({live_schema, fn_name, kind}; fn_name null when no function has that path; NULL when
-- the environment does not exist), and the paths there are. What it reveals, pg_proc shows anyway.
CREATE FUNCTION stopgap._route(env text, path text) RETURNS jsonb
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  RETURN (SELECT jsonb_build_object('live_schema', e.live_schema, 'deployment_id', e.active_deployment_id,
                                    'fn_name', v.fn_name, 'kind', v.kind)
            FROM stopgap.environment e
            LEFT JOIN stopgap.fn_version v ON v.deployment_id = e.active_deployment_id AND v.path = _route.path
           WHERE e.env = _route.env);
CREATE FUNCTION stopgap._paths(env text) RETURNS text[]
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  RETURN ARRAY(SELECT v.path FROM stopgap.environment e
                 JOIN stopgap.fn_version v ON v.deployment_id = e.active_deployment_id AND v.path IS NOT NULL
                WHERE e.env = _paths.env ORDER BY v.path);

REVOKE ALL ON FUNCTION stopgap._export_kinds(text, jsonb), stopgap._route(text, text), stopgap._paths(text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stopgap._route(text, text), stopgap._paths(text) TO app_user, stopgap_deployer;
REVOKE ALL ON FUNCTION stopgap.deploy_project(text, jsonb, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stopgap.deploy_project(text, jsonb, text, jsonb) TO stopgap_deployer;
GRANT EXECUTE ON FUNCTION stopgap.call_fn(text, jsonb, text) TO PUBLIC;

-- deployments shows a project function's path, module and export (NULL for a schema's functions)
-- and how many modules a project deployment had.
CREATE OR REPLACE FUNCTION stopgap.deployments(env text DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', d.id, 'label', d.label, 'status', d.status, 'source_schema', d.source_schema,
           'created_at', d.created_at, 'created_by', d.created_by,
           'is_active', d.id IS NOT DISTINCT FROM e.active_deployment_id,
           'modules', (SELECT count(*) FROM stopgap.module_version m WHERE m.deployment_id = d.id),
           'functions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'fn_name', v.fn_name, 'signature', v.signature, 'routine', v.routine,
                                  'kind', v.kind, 'artifact_hash', v.artifact_hash,
                                  'path', v.path, 'module', v.module, 'export', v.export_name)
                                  ORDER BY v.fn_name), '[]')
                           FROM stopgap.fn_version v WHERE v.deployment_id = d.id))
           ORDER BY d.id DESC), '[]')
    FROM stopgap.deployment d
    LEFT JOIN stopgap.environment e ON e.env = d.env
   WHERE d.env = stopgap._env_name(deployments.env);
END;


-- check(): a project function's live pointer names its export (export_name), not 'default'; a
-- project deployment's modules keep their artifacts.
CREATE OR REPLACE FUNCTION stopgap.check(environment text DEFAULT NULL)
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
    -- ... and so does every module of a project deployment (what its functions import).
    FOR detail IN
      SELECT jsonb_build_object('deployment_id', m.deployment_id, 'module', m.module,
                                'artifact_hash', m.artifact_hash)
        FROM stopgap.module_version m JOIN stopgap.deployment d ON d.id = m.deployment_id
       WHERE d.env = er.env AND NOT EXISTS (SELECT FROM plts.artifact a WHERE a.artifact_hash = m.artifact_hash)
       ORDER BY m.deployment_id, m.module
    LOOP
      problem := 'module_artifact_missing';
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
              OR x.stub->>'export' IS DISTINCT FROM coalesce(v.export_name, 'default'))
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
