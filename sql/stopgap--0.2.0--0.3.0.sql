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
