#!/usr/bin/env bash
# The main job: bootstrap, build, install, start a throwaway cluster, create the extensions, run
# the example in examples/demo.sql and print its result. The cluster is stopped afterwards unless
# KEEP_CLUSTER=1 (then its connection settings are printed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh"
build_and_install
if [ "${KEEP_CLUSTER:-0}" != 1 ]; then trap 'cluster_stop' EXIT; fi
cluster_start "shared_preload_libraries = 'plts,stopgap'"
psql -qX -v ON_ERROR_STOP=1 -f "$ROOT/examples/demo.sql"
if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
  echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER (stop: pg_ctl -D $CLUSTER_DIR/data stop)"
fi
