-- plts 0.2.0 -> 0.3.0. A fresh CREATE EXTENSION runs plts--0.1.0.sql and the update scripts in
-- order, so a new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION plts UPDATE TO '0.3.0'" to load this file. \quit

-- ---- projects (issue 16): an artifact's exports, loaded under an import map
-- stopgap deploys a project's modules as artifacts whose imports are resolved by the import map
-- of the live pointer function (scoped by the importing artifact): to list a module's exports at
-- deploy time, it is loaded under that map.
CREATE FUNCTION plts.artifact_exports(artifact_hash text, import_map jsonb) RETURNS jsonb
  LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'plts_artifact_exports';
COMMENT ON FUNCTION plts.artifact_exports(text, jsonb) IS
  'plts.artifact_exports(artifact_hash) with the module''s imports resolved through import_map (as a pointer '
  'function''s map: names, and "<artifact hash> <specifier>" keys scoped to the importing artifact)';
