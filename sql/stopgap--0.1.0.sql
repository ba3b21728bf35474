-- stopgap 0.1.0
\echo Use "CREATE EXTENSION stopgap" to load this file. \quit

CREATE SCHEMA stopgap;
GRANT USAGE ON SCHEMA stopgap TO PUBLIC;

CREATE FUNCTION stopgap.version() RETURNS text
  LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'stopgap_version';
COMMENT ON FUNCTION stopgap.version() IS 'stopgap version';
