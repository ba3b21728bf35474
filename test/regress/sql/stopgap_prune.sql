-- stopgap.prune: activating a deployment drops the live functions it lacks, except those that
-- other objects depend on; the manifest and the activation log record what happened.
\set SHOW_CONTEXT never
SET stopgap.live_schema = 'sg_prune_live';
CREATE SCHEMA sg_prune;
CREATE FUNCTION sg_prune.keep() RETURNS int LANGUAGE plts AS $$ export default () => 1 $$;
CREATE FUNCTION sg_prune.gone() RETURNS int LANGUAGE plts AS $$ export default () => 2 $$;
CREATE FUNCTION sg_prune.viewed() RETURNS int LANGUAGE plts AS $$ export default () => 3 $$;
SELECT stopgap.deploy('sg_prune', 'sg_prune', 'all three') AS p1 \gset
CREATE VIEW sg_prune.v AS SELECT sg_prune_live.viewed() AS x;
DROP FUNCTION sg_prune.gone(), sg_prune.viewed();

-- prune off (the default): removed functions stay live and are reported as retained
SELECT stopgap.deploy('sg_prune', 'sg_prune', 'prune off') AS p2 \gset
SELECT manifest->'prune' AS prune FROM stopgap.deployment WHERE id = :p2;
SELECT proname FROM pg_proc WHERE pronamespace = 'sg_prune_live'::regnamespace ORDER BY 1;
SELECT s->'retained' AS retained, s->'drifted' AS drifted FROM stopgap.status('sg_prune') s;

-- prune on: gone is dropped, viewed is kept because the view depends on it; a function nobody
-- deployed (made by hand in the live schema) goes too
CREATE FUNCTION sg_prune_live.by_hand() RETURNS int LANGUAGE plts AS $$ export default () => 4 $$;
SET stopgap.prune = on;
SELECT stopgap.deploy('sg_prune', 'sg_prune', 'prune on') AS p3 \gset
SELECT jsonb_pretty(manifest->'prune') AS prune FROM stopgap.deployment WHERE id = :p3;
SELECT proname FROM pg_proc WHERE pronamespace = 'sg_prune_live'::regnamespace ORDER BY 1;
SELECT * FROM sg_prune.v;
SELECT action, to_label, prune->'dropped' AS dropped FROM stopgap.activation_audit
 WHERE env = 'sg_prune' ORDER BY id;

-- rollback re-creates what its target has (gone is back); with prune on it also drops what the
-- target lacks (nothing here)
SELECT stopgap.rollback('sg_prune', to_id => :p1) = :p1 AS back_to_p1;
SELECT proname FROM pg_proc WHERE pronamespace = 'sg_prune_live'::regnamespace ORDER BY 1;
SELECT sg_prune_live.gone();
SELECT prune FROM stopgap.activation_audit WHERE env = 'sg_prune' ORDER BY id DESC LIMIT 1;

-- once nothing depends on it, viewed goes as well
DROP VIEW sg_prune.v;
SELECT stopgap.deploy('sg_prune', 'sg_prune', 'prune on again') AS p4 \gset
SELECT manifest->'prune' AS prune FROM stopgap.deployment WHERE id = :p4;
SELECT proname FROM pg_proc WHERE pronamespace = 'sg_prune_live'::regnamespace ORDER BY 1;
SELECT s->'retained' AS retained, s->'drifted' AS drifted, s->'function_count' AS functions
  FROM stopgap.status('sg_prune') s;
RESET stopgap.prune;

SET client_min_messages = warning;
DROP SCHEMA sg_prune, sg_prune_live CASCADE;
RESET client_min_messages;
RESET stopgap.live_schema;
