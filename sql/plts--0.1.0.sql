-- plts 0.1.0
\echo Use "CREATE EXTENSION plts" to load this file. \quit

-- JavaScript strings are Unicode: plts converts text as UTF-8 and refuses other server encodings
-- rather than store mojibake.
DO $$
BEGIN
  IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
    RAISE EXCEPTION 'plts requires a UTF8 database (this one is %)', pg_catalog.getdatabaseencoding()
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Create the database with ENCODING ''UTF8'' (from template0).';
  END IF;
END
$$;

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

-- ---------------------------------------------------------------------------------------------
-- The TypeScript compiler and the artifact store.

CREATE TABLE plts.artifact (
  artifact_hash text PRIMARY KEY CHECK (artifact_hash ~ '^sha256:[0-9a-f]{64}$'),
  source_ts text NOT NULL,
  compiled_js text NOT NULL,
  compiler_opts jsonb NOT NULL DEFAULT '{}',
  compiler_fingerprint text NOT NULL,
  source_map text,
  diagnostics jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE plts.artifact IS 'compiled plts modules, content-addressed by sha256(fingerprint, options, source)';
-- Anyone may read artifacts; only plts itself writes them (compiled output must come from the compiler).
REVOKE ALL ON plts.artifact FROM PUBLIC;
GRANT SELECT ON plts.artifact TO PUBLIC;
-- Artifacts are data: pg_dump keeps them, so restored pointer functions find their code.
SELECT pg_catalog.pg_extension_config_dump('plts.artifact', '');

CREATE FUNCTION plts._transpile(source_ts text, compiler_opts jsonb) RETURNS jsonb
  LANGUAGE c VOLATILE PARALLEL UNSAFE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'plts_transpile';
CREATE FUNCTION plts._artifact_hash(fingerprint text, compiler_opts jsonb, source_ts text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'plts_artifact_hash';
CREATE FUNCTION plts._effective_opts(compiler_opts jsonb) RETURNS jsonb
  LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'plts_effective_opts';

CREATE FUNCTION plts.compiler_fingerprint(compiler_opts jsonb DEFAULT '{}') RETURNS text
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'plts_compiler_fingerprint';
COMMENT ON FUNCTION plts.compiler_fingerprint(jsonb) IS
  'fingerprint of the compiler: TypeScript version, effective options and runtime declarations';

CREATE FUNCTION plts.compile_ts(source_ts text, compiler_opts jsonb DEFAULT '{}',
    OUT compiled_js text, OUT diagnostics jsonb, OUT compiler_fingerprint text)
  LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    SELECT r->>'compiled_js', r->'diagnostics', r->>'compiler_fingerprint'
      FROM plts._transpile(source_ts, compiler_opts) AS r;
  END;
COMMENT ON FUNCTION plts.compile_ts(text, jsonb) IS
  'transpiles TypeScript to JavaScript; syntactic diagnostics (semantic checks: plts.typecheck_ts)';

CREATE FUNCTION plts.typecheck_ts(source_ts text, compiler_opts jsonb DEFAULT '{}') RETURNS jsonb
  LANGUAGE c VOLATILE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'plts_typecheck_ts';
COMMENT ON FUNCTION plts.typecheck_ts(text, jsonb) IS
  'semantic diagnostics against lib es2022 and the @stopgap/runtime declarations';

CREATE FUNCTION plts.compile_and_store(source_ts text, compiler_opts jsonb DEFAULT '{}') RETURNS text
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r jsonb;
  e jsonb;
BEGIN
  r := plts._transpile(source_ts, coalesce(compiler_opts, '{}'));
  SELECT d INTO e FROM jsonb_array_elements(r->'diagnostics') AS d WHERE d->>'category' = 'error' LIMIT 1;
  IF e IS NOT NULL THEN
    RAISE EXCEPTION 'TypeScript error at line %, column %: %', e->>'line', e->>'column', e->>'message'
      USING ERRCODE = 'syntax_error', DETAIL = 'diagnostics: ' || (r->'diagnostics')::text;
  END IF;
  INSERT INTO plts.artifact(artifact_hash, source_ts, compiled_js, compiler_opts, compiler_fingerprint,
                            source_map, diagnostics)
  VALUES (r->>'artifact_hash', source_ts, r->>'compiled_js', r->'compiler_opts', r->>'compiler_fingerprint',
          r->>'source_map', r->'diagnostics')
  ON CONFLICT (artifact_hash) DO NOTHING;
  RETURN r->>'artifact_hash';
END
$$;
COMMENT ON FUNCTION plts.compile_and_store(text, jsonb) IS
  'compiles TypeScript and stores the artifact (deduplicated); fails with the diagnostics on errors';

-- Stores JavaScript compiled elsewhere. Its fingerprint names the JavaScript's own hash, so such an
-- artifact can never pose as the compiler's output for the same source.
CREATE FUNCTION plts.upsert_artifact(source_ts text, compiled_js text, compiler_opts jsonb DEFAULT '{}')
  RETURNS text
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  opts jsonb := plts._effective_opts(compiler_opts);
  fp text := 'external:sha256:' || encode(sha256(convert_to(compiled_js, 'UTF8')), 'hex');
  h text := plts._artifact_hash(fp, opts, source_ts);
BEGIN
  IF source_ts IS NULL OR compiled_js IS NULL THEN
    RAISE EXCEPTION 'source_ts and compiled_js must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO plts.artifact(artifact_hash, source_ts, compiled_js, compiler_opts, compiler_fingerprint)
  VALUES (h, source_ts, compiled_js, opts, fp)
  ON CONFLICT (artifact_hash) DO NOTHING;
  RETURN h;
END
$$;

CREATE FUNCTION plts.get_artifact(artifact_hash text,
    OUT source_ts text, OUT compiled_js text, OUT compiler_opts jsonb, OUT compiler_fingerprint text,
    OUT source_map text, OUT diagnostics jsonb, OUT created_at timestamptz)
  LANGUAGE sql STABLE
  BEGIN ATOMIC
    SELECT a.source_ts, a.compiled_js, a.compiler_opts, a.compiler_fingerprint, a.source_map,
           a.diagnostics, a.created_at
      FROM plts.artifact a WHERE a.artifact_hash = get_artifact.artifact_hash;
  END;

CREATE FUNCTION plts.artifact_exports(artifact_hash text) RETURNS jsonb
  LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'plts_artifact_exports';
COMMENT ON FUNCTION plts.artifact_exports(text) IS
  'the exports of an artifact''s module and their kinds: query, mutation (@stopgap/runtime), function, value';
