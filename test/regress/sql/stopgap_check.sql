-- stopgap.check(): the catalog's invariants, one row per violation; privileges of live functions
-- as drift; names that need quoting in imports; look-alike live schemas.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION stopgap;

-- Names that need quoting, as schema and function names: each source schema has b() and a(), and
-- a() imports b() with the specifier written as a JSON string literal (a valid JS literal), or with
-- single quotes where the name has none. diff and deploy must agree: no errors, and the live a()
-- answers 'A' || b's value.
CREATE TEMP TABLE odd_names(i serial, name text);
INSERT INTO odd_names(name) VALUES
  ('sgc space name'), ('sgc''quote'), ('sgc"dq'), ('sgc.dot'), ('sgc/slash'), ('sgc\back'),
  ('sgc_é_日本'), ('SgcMixedCase'), ('sgc odd schema''"x'), ('sgc`tick${x}');
DO $$
DECLARE
  r record;
  fb text;
  spec text;
  d jsonb;
  got text;
BEGIN
  FOR r IN SELECT * FROM odd_names ORDER BY i LOOP
    fb := 'b ' || r.name;  -- the imported function's name needs quoting too
    EXECUTE format('CREATE SCHEMA %I', r.name);
    EXECUTE format('CREATE FUNCTION %I.%I() RETURNS text LANGUAGE plts AS %L', r.name, fb,
                   format('export default () => %s', to_json('B' || r.i)));
    spec := '@stopgap/' || r.name || '/' || fb;
    EXECUTE format('CREATE FUNCTION %I.a() RETURNS text LANGUAGE plts AS %L', r.name,
                   format(E'import b from %s;\nexport default () => "A" + b();',
                          CASE WHEN strpos(spec, '''') = 0 AND strpos(spec, '\') = 0
                               THEN '''' || spec || '''' ELSE to_json(spec)::text END));
    d := stopgap.diff('sgc_env_' || r.i, r.name);
    PERFORM set_config('stopgap.live_schema', 'sgc_live_' || r.i, true);
    PERFORM stopgap.deploy('sgc_env_' || r.i, r.name);
    EXECUTE format('SELECT %I.a()', 'sgc_live_' || r.i) INTO got;
    RAISE WARNING '% | diff added %, errors % | live a() = %', r.name,
      d->'summary'->'added', d->'summary'->'errors', got;
  END LOOP;
END
$$;
SELECT count(*) AS problems FROM stopgap.check() WHERE env LIKE 'sgc_env_%';
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT i, name FROM odd_names LOOP
    EXECUTE format('DROP SCHEMA %I, %I CASCADE', r.name, 'sgc_live_' || r.i);
  END LOOP;
END
$$;

-- An import of another schema's function, or of a misspelled "@stopgap/" path, is refused by diff
-- and deploy alike (it would resolve to nothing when the module loads).
CREATE SCHEMA sgc_imp;
CREATE FUNCTION sgc_imp.f() RETURNS text LANGUAGE plts AS $$
import b from "@stopgap/sgc space name/b sgc space name";
export default () => b();
$$;
SELECT stopgap.diff('sgc_imp', 'sgc_imp');
SELECT stopgap.deploy('sgc_imp', 'sgc_imp');
DROP SCHEMA sgc_imp CASCADE;

-- Privileges: grants made by hand on live functions are drift, and the next activation (deploy or
-- rollback) resets them to EXECUTE for app_user only.
CREATE ROLE sgc_mallory NOLOGIN;
CREATE SCHEMA sgc_src;
CREATE FUNCTION sgc_src.f() RETURNS text LANGUAGE plts AS $$ export default () => "f1" $$;
CREATE FUNCTION sgc_src.g() RETURNS text LANGUAGE plts AS $$ export default () => "g1" $$;
SET stopgap.live_schema = 'sgc_live';
SELECT stopgap.deploy('sgc', 'sgc_src', 'one') IS NOT NULL AS deployed;
GRANT EXECUTE ON FUNCTION sgc_live.f() TO sgc_mallory WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION sgc_live.g() TO PUBLIC;
REVOKE EXECUTE ON FUNCTION sgc_live.g() FROM app_user;
SELECT stopgap.status('sgc')->'drifted' AS drifted;
SELECT problem, detail FROM stopgap.check('sgc') ORDER BY detail->>'fn_name';
SELECT has_function_privilege('sgc_mallory', 'sgc_live.f()', 'EXECUTE') AS mallory_may_call_f;
CREATE OR REPLACE FUNCTION sgc_src.f() RETURNS text LANGUAGE plts AS $$ export default () => "f2" $$;
SELECT stopgap.deploy('sgc', 'sgc_src', 'two') IS NOT NULL AS deployed;
SELECT count(*) AS problems FROM stopgap.check('sgc');
SELECT has_function_privilege('sgc_mallory', 'sgc_live.f()', 'EXECUTE') AS mallory_may_call_f,
       has_function_privilege('sgc_mallory', 'sgc_live.g()', 'EXECUTE') AS mallory_may_call_g,
       has_function_privilege('app_user', 'sgc_live.g()', 'EXECUTE') AS app_user_may_call_g;
GRANT EXECUTE ON FUNCTION sgc_live.g() TO sgc_mallory;
SELECT problem FROM stopgap.check('sgc');
SELECT stopgap.rollback('sgc') IS NOT NULL AS rolled_back;
SELECT count(*) AS problems FROM stopgap.check('sgc');
SELECT sgc_live.f();

-- Each invariant, broken by hand (as a superuser could) and then repaired.
-- A live function replaced by hand: drift and a pointer that is not the recorded one.
CREATE OR REPLACE FUNCTION sgc_live.f() RETURNS text LANGUAGE plts AS $$ export default () => "hand" $$;
SELECT problem, detail->>'fn_name' AS fn FROM stopgap.check('sgc') ORDER BY 1;
SELECT stopgap.deploy('sgc', 'sgc_src', 'repair') IS NOT NULL AS deployed;
SELECT count(*) AS problems FROM stopgap.check('sgc');
-- An extra function in the live schema.
CREATE FUNCTION sgc_live.extra() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT problem, detail->>'signature' AS signature FROM stopgap.check('sgc');
DROP FUNCTION sgc_live.extra();
-- The environment row disagreeing with the deployments' statuses and the activation log.
UPDATE stopgap.environment SET active_deployment_id = NULL WHERE env = 'sgc';
SELECT problem FROM stopgap.check('sgc') ORDER BY 1;
UPDATE stopgap.environment SET active_deployment_id = (SELECT id FROM stopgap.deployment WHERE env = 'sgc' AND status = 'active')
 WHERE env = 'sgc';
-- A recorded artifact that is gone (plts.artifact has no foreign keys from stopgap).
CREATE TEMP TABLE saved_artifact AS
  SELECT a.* FROM plts.artifact a JOIN stopgap.fn_version v ON v.artifact_hash = a.artifact_hash
    JOIN stopgap.deployment d ON d.id = v.deployment_id
   WHERE d.env = 'sgc' AND d.status = 'active' AND v.fn_name = 'g';
DELETE FROM plts.artifact WHERE artifact_hash = (SELECT artifact_hash FROM saved_artifact);
SELECT problem, detail->>'fn_name' AS fn, count(*) FROM stopgap.check('sgc') GROUP BY 1, 2 ORDER BY 1;
INSERT INTO plts.artifact SELECT * FROM saved_artifact;
-- An unfinished deployment (a deploy commits all of it or nothing; this one is made by hand).
INSERT INTO stopgap.deployment (env, source_schema, created_by) VALUES ('sgc', 'sgc_src', current_user);
SELECT problem, detail->>'status' AS status FROM stopgap.check('sgc');
DELETE FROM stopgap.deployment WHERE env = 'sgc' AND status = 'open';
SELECT count(*) AS problems FROM stopgap.check('sgc');
SELECT * FROM stopgap.check('no_such_env');

-- Nothing can be written in a read-only transaction (or on a standby: test/pg/stopgap_standby_test.cpp).
BEGIN READ ONLY;
SELECT stopgap.deploy('sgc', 'sgc_src');
ROLLBACK;
BEGIN READ ONLY;
SELECT stopgap.rollback('sgc');
ROLLBACK;

-- Live schema names that look like others are refused when set, and a value set before stopgap
-- was loaded in a session (a placeholder, checked only when the library loads) fails the deploy
-- instead of being replaced by the default.
SET stopgap.live_schema = 'PG_CATALOG';
SET stopgap.live_schema = 'Pg_Toast_x';
SET stopgap.live_schema = 'public ';
SET stopgap.live_schema = ' sgc';
SET stopgap.live_schema = E'sgc\tlive';
SET stopgap.live_schema = 'PUBLIC';
SET stopgap.live_schema = 'Stopgap';
SET stopgap.live_schema = 'sgc ok; "quoted"';
SHOW stopgap.live_schema;
\c -
SET client_min_messages = error;
SET stopgap.live_schema = 'PG_Catalog';
SELECT stopgap.deploy('sgc_placeholder', 'sgc_src');
SELECT count(*) AS environments FROM stopgap.environment WHERE env = 'sgc_placeholder';
SET stopgap.live_schema = 'sgc_live_ok';
SELECT stopgap._live_schema_setting();

-- cleanup (deployments are history and stay)
SET client_min_messages = warning;
DROP SCHEMA sgc_src, sgc_live CASCADE;
DROP ROLE sgc_mallory;
-- (the environments first: DROP EXTENSION stopgap is refused while any exists)
SELECT count(stopgap.drop_environment(env)) >= 0 AS dropped FROM stopgap.environment;
DROP EXTENSION stopgap;
