-- plts 0.1.0
\echo Use "CREATE EXTENSION plts" to load this file. \quit

CREATE SCHEMA plts;
GRANT USAGE ON SCHEMA plts TO PUBLIC;

CREATE FUNCTION plts.version() RETURNS text
  LANGUAGE c STRICT VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'plts_version';
COMMENT ON FUNCTION plts.version() IS 'plts version and the V8 version it runs on';
