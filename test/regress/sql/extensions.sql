-- Both extensions create and drop cleanly; plts reports the V8 it runs on.
CREATE EXTENSION stopgap;  -- fails: requires plts
CREATE EXTENSION plts;
SELECT plts.version() ~ '^plts 0\.2\.0 \(V8 10\.2\.[0-9.]+' AS runs_on_v8_10_2;
CREATE EXTENSION stopgap;
SELECT stopgap.version();
SELECT extname, extversion FROM pg_extension WHERE extname IN ('plts', 'stopgap') ORDER BY 1;
DROP EXTENSION plts;  -- fails: stopgap depends on it
DROP EXTENSION stopgap;
DROP EXTENSION plts;
-- nothing they created is left behind
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname IN ('plts', 'stopgap');
SELECT count(*) AS leftover_functions FROM pg_proc WHERE prosrc IN ('plts_version', 'stopgap_version');
-- and they come back
CREATE EXTENSION stopgap CASCADE;
SELECT stopgap.version();
DROP EXTENSION stopgap, plts;
