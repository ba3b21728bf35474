-- stopgap 0.1.0 -> 0.2.0. A fresh CREATE EXTENSION runs stopgap--0.1.0.sql and then this script,
-- so a new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION stopgap UPDATE TO '0.2.0'" to load this file. \quit

-- ---- upgrade fixes: stopgap 0.2.0 needs plts 0.2.0 (first in the script: a precondition)
-- stopgap 0.2.0's deploy calls functions that plts 0.2.0 adds (plts._typecheck_modules): with plts
-- still at 0.1.0 this update would go through and every deploy fail afterwards. Refuse it and say
-- what to do. A fresh CREATE EXTENSION stopgap finds plts at its default version (CASCADE installs
-- that one); only plts created explicitly as VERSION '0.1.0' is refused here.
DO $upgrade_fixes$
DECLARE
  plts_version text := (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'plts');
BEGIN
  IF plts_version = '0.1.0' THEN
    RAISE EXCEPTION 'stopgap 0.2.0 needs plts 0.2.0, but plts is at version %', plts_version
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run ALTER EXTENSION plts UPDATE first, then ALTER EXTENSION stopgap UPDATE.';
  END IF;
END
$upgrade_fixes$;
