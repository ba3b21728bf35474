-- plts 0.1.0
\echo Use "CREATE EXTENSION plts" to load this file. \quit

CREATE SCHEMA plts;
GRANT USAGE ON SCHEMA plts TO PUBLIC;

CREATE FUNCTION plts.version() RETURNS text
  LANGUAGE c STRICT VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'plts_version';
COMMENT ON FUNCTION plts.version() IS 'plts version and the V8 version it runs on';

CREATE FUNCTION plts.call_handler() RETURNS language_handler
  LANGUAGE c AS 'MODULE_PATHNAME', 'plts_call_handler';
CREATE FUNCTION plts.inline_handler(internal) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'plts_inline_handler';
CREATE FUNCTION plts.validator(oid) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'plts_validator';

CREATE TRUSTED LANGUAGE plts
  HANDLER plts.call_handler INLINE plts.inline_handler VALIDATOR plts.validator;
COMMENT ON LANGUAGE plts IS 'TypeScript/JavaScript on embedded V8';

CREATE FUNCTION plts.metrics() RETURNS jsonb
  LANGUAGE c STRICT VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'plts_metrics';
COMMENT ON FUNCTION plts.metrics() IS 'this backend''s plts counters: calls, errors, latency, caches';
