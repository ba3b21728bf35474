-- plts 0.1.0 -> 0.2.0. A fresh CREATE EXTENSION runs plts--0.1.0.sql and then this script, so a
-- new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION plts UPDATE TO '0.2.0'" to load this file. \quit

-- ---- compiler: type check of a set of modules (stopgap's deploy checks all functions at once)
-- modules: {specifier: TypeScript source}; an import of a specifier of the set resolves to that
-- module, "@stopgap/runtime" to the runtime declarations. check: the specifiers to report on
-- (NULL: all). Returns {specifier: [diagnostic]}. NULL modules returns NULL.
CREATE FUNCTION plts._typecheck_modules(modules jsonb, "check" text[], compiler_opts jsonb DEFAULT '{}')
  RETURNS jsonb
  LANGUAGE c VOLATILE PARALLEL UNSAFE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'plts_typecheck_modules';
COMMENT ON FUNCTION plts._typecheck_modules(jsonb, text[], jsonb) IS
  'internal (stopgap): syntactic and semantic diagnostics of modules that import each other, in one TypeScript program';
-- An internal entry point for stopgap's deploy (SECURITY DEFINER): not part of the public API.
REVOKE EXECUTE ON FUNCTION plts._typecheck_modules(jsonb, text[], jsonb) FROM PUBLIC;
