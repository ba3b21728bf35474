// The boundary between PostgreSQL's longjmp-based errors and C++ exceptions.
//
// Neither may cross the other. Every fmgr entry point is defined with PGX_FUNCTION, which runs the
// C++ body in try/catch and raises the captured error only after every C++ frame is gone. Every
// call from C++ into PostgreSQL that may ereport goes through pg_guard, which turns the error into
// a PgError exception. A caught PostgreSQL error must reach an entry point (aborting the
// transaction) unless it was raised inside a subtransaction that the caller rolls back.
//
// A PgError owns its texts (C++ strings): it never points into a memory context that a cleanup
// (SPI_finish, a subtransaction's abort) may delete before the error is read.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "common/pg.h"

namespace pgx {

// Everything of an ErrorData that is re-raised, as owned strings.
struct ErrorFields {
  int sqlerrcode = ERRCODE_INTERNAL_ERROR;
  std::string message, detail, hint, context;
  std::string schema_name, table_name, column_name, datatype_name, constraint_name;
  std::string internalquery;
  int internalpos = 0;
  // Where PostgreSQL raised it (empty for errors of our own).
  std::string filename, funcname;
  int lineno = 0;
  bool from_postgres = false;
};

// A PostgreSQL error in flight through C++ frames: one PostgreSQL raised (copied by pg_guard) or
// an error of our own, described by SQLSTATE and texts.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorFields f) : f_(std::make_shared<ErrorFields>(std::move(f))) {}
  PgError(int sqlerrcode, std::string message, std::string detail = {}, std::string hint = {},
          std::string context = {})
      : f_(make(sqlerrcode, std::move(message), std::move(detail), std::move(hint),
                std::move(context))) {}

  // Copies what PostgreSQL put in an ErrorData (which the caller then frees).
  static PgError from_edata(const ErrorData* e);

  const char* what() const noexcept override { return f_->message.c_str(); }

  // The same error with its message prefixed (e.g. by which function or parameter it concerns).
  PgError with_prefix(const std::string& prefix) const {
    ErrorFields f = *f_;
    f.message = prefix + f.message;
    return PgError(std::move(f));
  }
  // The same error with a context line added (the innermost first, as PostgreSQL prints them).
  PgError with_context(const std::string& line) const {
    ErrorFields f = *f_;
    f.context = f.context.empty() ? line : f.context + "\n" + line;
    return PgError(std::move(f));
  }
  int sqlerrcode() const { return f_->sqlerrcode; }
  bool from_postgres() const { return f_->from_postgres; }
  const std::string& message() const { return f_->message; }
  const std::string& detail() const { return f_->detail; }
  const std::string& hint() const { return f_->hint; }
  const std::string& context() const { return f_->context; }
  const ErrorFields& fields() const { return *f_; }

 private:
  static std::shared_ptr<const ErrorFields> make(int code, std::string message, std::string detail,
                                                 std::string hint, std::string context) {
    auto f = std::make_shared<ErrorFields>();
    f->sqlerrcode = code;
    f->message = std::move(message);
    f->detail = std::move(detail);
    f->hint = std::move(hint);
    f->context = std::move(context);
    return f;
  }
  std::shared_ptr<const ErrorFields> f_;
};

// Trivially destructible record of a captured exception, safe to keep in a frame that longjmps.
// `error` is heap-allocated; raise() frees it before it longjmps. Null with `active` = out of
// memory.
struct PendingError {
  PgError* error = nullptr;
  bool active = false;
};

// Converts the exception being handled into a PendingError (must be called inside a catch block).
// Allocates nothing PostgreSQL could fail on.
PendingError capture_current_exception() noexcept;

// Raises a captured error as a PostgreSQL ERROR. Never returns.
[[noreturn]] void raise(const PendingError& pending);

// Runs f (which calls PostgreSQL functions only: no C++ objects with destructors may be live in
// frames it longjmps over) and turns any PostgreSQL error into a PgError.
template <typename F>
void pg_guard(F&& f) {
  MemoryContext volatile mcxt = CurrentMemoryContext;
  ErrorData* volatile edata = nullptr;
  // A C++ exception from f (bad_alloc in a string assignment, say) must not unwind through
  // PG_TRY: PG_exception_stack would be left pointing into a dead frame. Carry it past PG_END_TRY.
  std::exception_ptr cpp_error;
  PG_TRY();
  {
    try {
      f();
    } catch (...) {
      cpp_error = std::current_exception();
    }
  }
  PG_CATCH();
  {
    // ErrorContext is only reset by FlushErrorState: the copy lives in the caller's context
    // just long enough to be turned into strings below.
    MemoryContextSwitchTo(mcxt);
    edata = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (cpp_error) std::rethrow_exception(cpp_error);
  if (edata != nullptr) {
    // Copying to C++ strings may throw bad_alloc: free the ErrorData either way.
    ErrorData* e = edata;
    struct Free {
      ErrorData* e;
      ~Free() { FreeErrorData(e); }
    } free_it{e};
    throw PgError::from_edata(e);
  }
}

}  // namespace pgx

// Defines a version-1 fmgr function whose body is C++.
#define PGX_FUNCTION(name)                           \
  static Datum name##_body(FunctionCallInfo fcinfo); \
  extern "C" {                                       \
  PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);          \
  PG_FUNCTION_INFO_V1(name);                         \
  }                                                  \
  Datum name(PG_FUNCTION_ARGS) {                     \
    pgx::PendingError pending_;                      \
    Datum result_ = 0;                               \
    try {                                            \
      result_ = name##_body(fcinfo);                 \
    } catch (...) {                                  \
      pending_ = pgx::capture_current_exception();   \
    }                                                \
    if (pending_.active) pgx::raise(pending_);       \
    return result_;                                  \
  }                                                  \
  static Datum name##_body(FunctionCallInfo fcinfo)
