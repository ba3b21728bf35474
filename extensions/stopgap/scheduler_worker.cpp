// The scheduler's background workers (see scheduler.h). A worker connects to its database as the
// bootstrap superuser, takes a slot (a session advisory lock: never more than
// stopgap.scheduler_workers per database), and loops: one transaction claims due runs
// (stopgap._sched_tick: FOR UPDATE SKIP LOCKED, leases), then each claimed run executes in its own
// transaction as the schedule's owner with the schedule's plts.max_runtime_ms and an
// application_name naming the job, and is recorded (stopgap._sched_finish) in that transaction
// when it succeeds or in the next one when it fails. Between steps it sleeps on its latch until
// the next due time (stopgap.schedule and friends set the latch when they commit). It exits when
// its database has no schedules left, idles on a hot standby, and stops on SIGTERM.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "extensions/stopgap/scheduler.h"

#include "common/error_boundary.h"
#include "common/quote.h"
#include "extensions/stopgap/settings.h"
#include "extensions/stopgap/spi.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PGDLLEXPORT void stopgap_scheduler_main(Datum arg);
PGDLLEXPORT void stopgap_launcher_main(Datum arg);
}

namespace stopgap::scheduler {

namespace {

constexpr int kClaimBatch = 4;
constexpr long kMaxSleepMs = 60 * 1000;
// After a step that claimed nothing: what is due is locked by another transaction (a worker
// claiming it, a pause() not yet committed); look again shortly, not at once.
constexpr long kMinSleepMs = 100;
constexpr long kStandbyPollMs = 5 * 1000;
constexpr long kErrorPauseMs = 1000;
constexpr int kWorkerRestartSeconds = 5;

// Whether database `db` still has its directory (base/<oid>, or one under a tablespace): a worker
// restarted after DROP DATABASE ... WITH (FORCE) ended it must not fail to connect every few seconds.
bool database_exists(Oid db) {
  struct stat st;
  std::string base = "base/" + std::to_string(db);
  if (stat(base.c_str(), &st) == 0) return true;
  DIR* dir = opendir("pg_tblspc");
  if (dir == nullptr) return false;
  bool found = false;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("pg_tblspc/") + e->d_name + "/" + TABLESPACE_VERSION_DIRECTORY + "/" + std::to_string(db);
    if (stat(path.c_str(), &st) == 0) {
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

bool wake_pending = false;
bool launch_pending = false;
bool xact_callback_registered = false;

// Sets the latch of every scheduler worker of `db`; returns how many run.
int signal_workers(Oid db) {
  int n = 0;
  for (uint32 i = 0; i < ProcGlobal->allProcCount; i++) {
    PGPROC* proc = &ProcGlobal->allProcs[i];
    if (proc->pid == 0 || !proc->isBackgroundWorker || proc->databaseId != db) continue;
    const char* type = GetBackgroundWorkerTypeByPid(proc->pid);
    if (type == nullptr || strcmp(type, kWorkerType) != 0) continue;
    SetLatch(&proc->procLatch);
    n++;
  }
  return n;
}

bool launch_worker(Oid db) {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_ConsistentState;
  // A worker that ends with an error (terminated, a FATAL out-of-memory in a run) is started again;
  // one that leaves on purpose (no schedules, no free slot) exits 0 and is forgotten.
  w.bgw_restart_time = kWorkerRestartSeconds;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "stopgap");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "stopgap_scheduler_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "stopgap scheduler for database %u", db);
  snprintf(w.bgw_type, BGW_MAXLEN, "%s", kWorkerType);
  w.bgw_main_arg = ObjectIdGetDatum(db);
  w.bgw_notify_pid = 0;
  return RegisterDynamicBackgroundWorker(&w, nullptr);
}

int launch_missing(Oid db, int running) {
  int launched = 0;
  for (int i = running; i < settings.scheduler_workers; i++) {
    if (!launch_worker(db)) {
      ereport(WARNING, (errmsg("stopgap scheduler: no background worker slot is free"),
                        errhint("Raise max_worker_processes.")));
      break;
    }
    launched++;
  }
  return launched;
}

void on_xact(XactEvent event, void*) {
  if (!wake_pending) return;
  if (event == XACT_EVENT_COMMIT) {
    const bool launch = launch_pending;
    wake_pending = false;
    launch_pending = false;
    // Errors here would come after the commit: the worker's launch is best effort, and a failure
    // shows as a warning in the log (start_scheduler() retries it).
    // A worker about to leave (it found no schedules just before this commit) still counts as
    // running: launch one more anyway; a worker that finds every slot taken exits at once.
    MemoryContext mcxt = CurrentMemoryContext;
    PG_TRY();
    {
      int running = signal_workers(MyDatabaseId);
      if (launch && settings.scheduler_workers > 0)
        launch_missing(MyDatabaseId, std::min(running, settings.scheduler_workers - 1));
    }
    PG_CATCH();
    {
      MemoryContextSwitchTo(mcxt);
      FlushErrorState();
    }
    PG_END_TRY();
  } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    wake_pending = false;
    launch_pending = false;
  }
}

// --- the worker ----------------------------------------------------------------------------

struct WorkerState {
  int slot = -1;
  bool standby_logged = false;
  TimestampTz last_prune = 0;
};

// Runs f in a transaction with SPI connected and a snapshot; commits. A PgError aborts the
// transaction and is rethrown.
template <class F>
void in_transaction(F&& f) {
  pgx::pg_guard([] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
  });
  try {
    {
      SpiSession spi;
      f();
      spi.finish();
    }
    pgx::pg_guard([] {
      PopActiveSnapshot();
      CommitTransactionCommand();
    });
  } catch (...) {
    pgx::pg_guard([] { AbortCurrentTransaction(); });
    throw;
  }
}


struct Claim {
  std::string run_id, env, name, owner, live_schema, fn_name, arg_style, args;
  long max_runtime_ms = 60000;
};

// The statement that calls the claimed function and returns its result as jsonb text.
std::string call_sql(const Claim& c) {
  std::string fn = pgx::quote_ident(c.live_schema) + "." + pgx::quote_ident(c.fn_name);
  return c.arg_style == "jsonb" ? "SELECT pg_catalog.to_jsonb(" + fn + "($1::pg_catalog.jsonb))::pg_catalog.text"
                                : "SELECT pg_catalog.to_jsonb(" + fn + "())::pg_catalog.text";
}

void set_local(const char* name, const std::string& value) {
  pgx::pg_guard([&] {
    (void)set_config_option(name, value.c_str(), PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0,
                            false);
  });
}

std::string json_text(const nlohmann::json& j) {
  // A message from another encoding must not make recording the run fail.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Runs one claimed job and records how it ended.
//
// The function runs as the schedule's owner the way PostgreSQL runs user code in maintenance
// commands: SET LOCAL ROLE (so stopgap's own caller checks see the owner, not this superuser
// session), then a security-restricted user change (no SET ROLE / SESSION AUTHORIZATION back, no
// temporary objects or WITH HOLD cursors that would outlive the run in this shared session), and a
// GUC nest level undone right after the call (a session-level SET by the run reaches neither the
// scheduler's own statements nor the next run of another owner). Deferrable constraints are
// checked immediately (PostgreSQL cannot defer trigger events in a restricted operation).
void run_claim(const Claim& c) {
  const std::string activity = "stopgap job " + c.env + "/" + c.name;
  pgx::pg_guard([&] { pgstat_report_activity(STATE_RUNNING, activity.c_str()); });
  struct Idle {
    ~Idle() { pgstat_report_activity(STATE_IDLE, nullptr); }
  } idle;
  nlohmann::json outcome;
  bool started = false;
  try {
    in_transaction([&] {
      // Reaped as lost while it waited behind the other claims of its batch: not run at all.
      started = scalar("SELECT stopgap._sched_start($1::pg_catalog.int8)", {c.run_id}).value_or("f") == "t";
      if (!started) return;
      Oid owner = InvalidOid;
      bool super = false;
      pgx::pg_guard([&] {
        owner = get_role_oid(c.owner.c_str(), true);
        super = OidIsValid(owner) && superuser_arg(owner);
      });
      if (!OidIsValid(owner))
        throw pgx::PgError(ERRCODE_UNDEFINED_OBJECT, "role \"" + c.owner + "\" of the schedule does not exist");
      if (super)
        throw pgx::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                           "role \"" + c.owner + "\" of the schedule is a superuser: scheduled runs never run as one");
      set_local("application_name", activity);
      set_local("plts.max_runtime_ms", std::to_string(c.max_runtime_ms));
      set_local("role", c.owner);
      Oid save_user = InvalidOid;
      int save_sec = 0;
      int nest = 0;
      pgx::pg_guard([&] {
        GetUserIdAndSecContext(&save_user, &save_sec);
        SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
        nest = NewGUCNestLevel();
      });
      // PostgreSQL refuses to queue deferred trigger events in a security-restricted operation:
      // deferrable constraints are checked at each statement of a run instead of at its end.
      run("SET CONSTRAINTS ALL IMMEDIATE");
      Rows rows = c.arg_style == "jsonb" ? query_text(call_sql(c), {c.args}) : query_text(call_sql(c), {});
      pgx::pg_guard([&] {
        AtEOXact_GUC(false, nest);
        SetUserIdAndSecContext(GetSessionUserId(), save_sec);
      });
      nlohmann::json result;
      if (!rows.empty() && rows[0][0]) result = nlohmann::json::parse(*rows[0][0], nullptr, false);
      if (result.is_discarded()) result = nullptr;
      outcome = {{"status", "ok"}, {"result", result}};
      query("SELECT stopgap._sched_finish($1::pg_catalog.int8, $2::pg_catalog.jsonb)", {c.run_id, json_text(outcome)});
    });
    return;
  } catch (const pgx::PgError& e) {
    char code[6];
    memcpy(code, unpack_sql_state(e.sqlerrcode()), 6);
    outcome = {{"status", e.sqlerrcode() == ERRCODE_QUERY_CANCELED ? "timeout" : "error"},
               {"message", e.message()},
               {"sqlstate", std::string(code)}};
  }
  if (!started) return;
  in_transaction([&] {
    query("SELECT stopgap._sched_finish($1::pg_catalog.int8, $2::pg_catalog.jsonb)", {c.run_id, json_text(outcome)});
  });
}

// Takes a free slot of this database (a session advisory lock); false when all are taken.
bool take_slot(WorkerState& st) {
  for (int i = 0; i < settings.scheduler_workers; i++) {
    Value got = scalar("SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('stopgap scheduler'), $1::pg_catalog.int4)",
                       {std::to_string(i)});
    if (got && *got == "t") {
      st.slot = i;
      return true;
    }
  }
  return false;
}

// One step; returns how long to sleep (ms), or -1 to exit.
long step(WorkerState& st) {
  if (RecoveryInProgress()) {
    // A database without schedules needs no idle worker on a standby either (checked at every
    // poll: an unschedule replayed from the primary lets the worker go).
    bool has_jobs = false;
    in_transaction([&] {
      Value v = scalar(
          "SELECT pg_catalog.to_regclass('stopgap.job') IS NOT NULL AND "
          "pg_catalog.current_setting('stopgap.scheduler_workers')::integer > 0");
      if (v && *v == "t") has_jobs = scalar("SELECT EXISTS (SELECT FROM stopgap.job)").value_or("f") == "t";
    });
    if (!has_jobs) return -1;
    if (!st.standby_logged) {
      st.standby_logged = true;
      SetConfigOption("application_name", "stopgap scheduler (standby: idle)", PGC_USERSET, PGC_S_SESSION);
      ereport(LOG, (errmsg("stopgap scheduler: idle on a hot standby: schedules run on the primary"),
                    errdetail("The worker starts running schedules if this server is promoted.")));
    }
    return kStandbyPollMs;
  }
  if (st.standby_logged) {
    st.standby_logged = false;
    SetConfigOption("application_name", "stopgap scheduler", PGC_USERSET, PGC_S_SESSION);
  }
  bool exit_now = false;
  std::vector<Claim> claims;
  in_transaction([&] {
    Value has = scalar(
        "SELECT pg_catalog.to_regclass('stopgap.job') IS NOT NULL AND "
        "pg_catalog.to_regprocedure('stopgap._sched_tick(integer,integer,integer[])') IS NOT NULL");
    if (!has || *has != "t") {
      exit_now = true;
      return;
    }
    Value any = scalar("SELECT EXISTS (SELECT FROM stopgap.job)");
    if (!any || *any != "t" || settings.scheduler_workers == 0) {
      exit_now = true;
      return;
    }
    if (st.slot < 0 && !take_slot(st)) {
      exit_now = true;
      return;
    }
    if (st.slot >= settings.scheduler_workers) {
      exit_now = true;
      return;
    }
    Value tick = scalar("SELECT stopgap._sched_tick($1::pg_catalog.int4, $2::pg_catalog.int4)::pg_catalog.text",
                        {std::to_string(MyProcPid), std::to_string(kClaimBatch)});
    nlohmann::json t = nlohmann::json::parse(tick.value_or("{}"), nullptr, false);
    if (t.is_object() && t["claims"].is_array()) {
      for (const auto& c : t["claims"]) {
        Claim cl;
        cl.run_id = std::to_string(c.value("run_id", int64_t{0}));
        cl.env = c.value("env", "");
        cl.name = c.value("name", "");
        cl.owner = c.value("owner", "");
        cl.live_schema = c.value("live_schema", "");
        cl.fn_name = c.value("fn_name", "");
        cl.arg_style = c.value("arg_style", "none");
        cl.args = c.contains("args") ? c["args"].dump() : "{}";
        if (c.contains("max_runtime_ms") && c["max_runtime_ms"].is_number())
          cl.max_runtime_ms = c["max_runtime_ms"].get<long>();
        claims.push_back(std::move(cl));
      }
    }
    TimestampTz now = GetCurrentTimestamp();
    if (settings.job_run_retention_s > 0 && now - st.last_prune > 60 * USECS_PER_SEC) {
      st.last_prune = now;
      query("SELECT stopgap._sched_prune_runs(pg_catalog.make_interval(secs => $1::pg_catalog.float8), 1000)",
            {std::to_string(settings.job_run_retention_s)});
    }
  });
  if (exit_now) {
    // Give the slot up, then look once more: a schedule committed since the look above must not be
    // left without a worker (the launch at its commit may have seen this one still running).
    if (st.slot >= 0) {
      bool again = false;
      in_transaction([&] {
        query("SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('stopgap scheduler'), $1::pg_catalog.int4)",
              {std::to_string(st.slot)});
        st.slot = -1;
        again = settings.scheduler_workers > 0 &&
                scalar("SELECT pg_catalog.to_regclass('stopgap.job') IS NOT NULL").value_or("f") == "t" &&
                scalar("SELECT EXISTS (SELECT FROM stopgap.job)").value_or("f") == "t";
      });
      if (again) return 0;
    }
    return -1;
  }
  for (const Claim& c : claims) {
    // A run that cannot even be recorded stays 'running' until its lease ends (then 'lost'); a
    // cancel that arrives between runs is dropped: the other claims still run.
    try {
      pgx::pg_guard([] { CHECK_FOR_INTERRUPTS(); });
      run_claim(c);
    } catch (const std::exception& e) {
      std::string message = "stopgap scheduler: run " + c.run_id + " of " + c.env + "/" + c.name + ": " + e.what();
      pgx::pg_guard([&] { ereport(LOG, (errmsg("%s", message.c_str()))); });
    }
  }
  if (!claims.empty()) return 0;
  long sleep_ms = kMaxSleepMs;
  in_transaction([&] {
    Value ms = scalar(
        "SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', stopgap._sched_next_wakeup() OPERATOR(pg_catalog.-) "
        "pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8");
    if (ms) sleep_ms = std::max(kMinSleepMs, std::min(kMaxSleepMs, std::stol(*ms)));
  });
  return sleep_ms;
}

// step() with every error caught and reported: a C++ or SQL error never ends the worker.
long guarded_step(WorkerState& st) noexcept {
  try {
    return step(st);
  } catch (const pgx::PgError& e) {
    try {
      std::string message = e.message();
      pgx::pg_guard([&] {
        ereport(LOG, (errmsg("stopgap scheduler: %s", message.c_str())));
      });
    } catch (...) {
    }
  } catch (...) {
  }
  return kErrorPauseMs;
}

void worker_loop() {
  WorkerState st;
  for (;;) {
    // A cancel (pg_cancel_backend) between runs is an ERROR with no query to end: ignore it. A
    // terminate (SIGTERM) is FATAL and ends the worker.
    try {
      pgx::pg_guard([] { CHECK_FOR_INTERRUPTS(); });
    } catch (...) {
    }
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    long sleep_ms = guarded_step(st);
    if (sleep_ms < 0) return;
    if (sleep_ms > 0) {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    }
  }
}

std::vector<Oid> connectable_databases() {
  std::vector<Oid> out;
  StartTransactionCommand();
  (void)GetTransactionSnapshot();
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
  HeapTuple tup;
  while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection))) {
    auto* db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
    if (db->datallowconn && !db->datistemplate) out.push_back(db->oid);
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  CommitTransactionCommand();
  return out;
}

}  // namespace

void wake_at_commit(bool launch) {
  if (!xact_callback_registered) {
    RegisterXactCallback(on_xact, nullptr);
    xact_callback_registered = true;
  }
  wake_pending = true;
  launch_pending = launch_pending || launch;
}

int ensure_workers(Oid db) {
  int running = signal_workers(db);
  return launch_missing(db, running);
}

void register_launcher() {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_ConsistentState;
  w.bgw_restart_time = 10;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "stopgap");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "stopgap_launcher_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "stopgap scheduler launcher");
  snprintf(w.bgw_type, BGW_MAXLEN, "stopgap scheduler launcher");
  RegisterBackgroundWorker(&w);
}

}  // namespace stopgap::scheduler

// A scheduler worker of one database (bgw_main_arg: its oid).
void stopgap_scheduler_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  if (!stopgap::scheduler::database_exists(DatumGetObjectId(arg))) proc_exit(0);
  // BYPASS_ALLOWCONN: a database closed to connections must not make its worker fail and restart
  // every few seconds.
  BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, BGWORKER_BYPASS_ALLOWCONN);
  SetConfigOption("application_name", "stopgap scheduler", PGC_USERSET, PGC_S_SESSION);
  // The workers keep the real clock whatever a configuration file says.
  SetConfigOption("stopgap.scheduler_clock", "", PGC_SUSET, PGC_S_OVERRIDE);
  stopgap::scheduler::worker_loop();
  proc_exit(0);
}

// The launcher (shared_preload_libraries only): starts a worker for every database that accepts
// connections (one without schedules exits at once), then waits, so that it runs again, and
// starts them again, after the server restarts its processes following a crash.
void stopgap_launcher_main(Datum) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
  SetConfigOption("application_name", "stopgap scheduler launcher", PGC_USERSET, PGC_S_SESSION);
  // Workers of databases without schedules exit at once, freeing their slots: when none is free,
  // wait for one (a minute at most per database).
  for (Oid db : stopgap::scheduler::connectable_databases()) {
    for (int tries = 0; !stopgap::scheduler::launch_worker(db); tries++) {
      if (tries == 600) {
        ereport(LOG, (errmsg("stopgap scheduler launcher: no background worker slot for database %u", db),
                      errhint("Raise max_worker_processes, then run SELECT stopgap.start_scheduler() there.")));
        break;
      }
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    }
  }
  for (;;) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
  }
}
