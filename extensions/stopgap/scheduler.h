// The scheduler's processes: one background worker per database with schedules (up to
// stopgap.scheduler_workers of them, each holding a slot), launched dynamically by
// stopgap.schedule/resume/run_now/start_scheduler, and a launcher that starts them for every
// database when the server starts (only when stopgap is in shared_preload_libraries).
#pragma once

#include "common/pg.h"

namespace stopgap::scheduler {

// The name background workers of this database show (pg_stat_activity.backend_type).
constexpr const char* kWorkerType = "stopgap scheduler";

// When the current transaction commits: set the latch of this database's scheduler workers, and
// (launch) start the missing ones (up to stopgap.scheduler_workers). Calls PostgreSQL: run in
// pgx::pg_guard.
void wake_at_commit(bool launch = true);

// Launches stopgap.scheduler_workers minus the running workers of `db`; returns how many.
// Calls PostgreSQL: run in pgx::pg_guard.
int ensure_workers(Oid db);

// From _PG_init while shared_preload_libraries load: registers the launcher.
void register_launcher();

}  // namespace stopgap::scheduler
