// The boundary between PostgreSQL's longjmp-based errors and C++ exceptions.
//
// Neither may cross the other. Every fmgr entry point is defined with PGX_FUNCTION, which runs the
// C++ body in try/catch and raises the captured error only after every C++ frame is gone. Every
// call from C++ into PostgreSQL that may ereport goes through pg_guard, which turns the error into
// a PgError exception. A caught PostgreSQL error must reach an entry point (aborting the
// transaction) unless it was raised inside a subtransaction that the caller rolls back.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "common/pg.h"

namespace pgx {

// A PostgreSQL error in flight through C++ frames: either a copied ErrorData (from pg_guard) or an
// error of our own, described by SQLSTATE and texts.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData* edata) : edata_(edata) {}
  PgError(int sqlerrcode, std::string message, std::string detail = {}, std::string hint = {},
          std::string context = {})
      : sqlerrcode_(sqlerrcode),
        message_(std::move(message)),
        detail_(std::move(detail)),
        hint_(std::move(hint)),
        context_(std::move(context)) {}

  const char* what() const noexcept override {
    return edata_ != nullptr && edata_->message != nullptr ? edata_->message : message_.c_str();
  }
  ErrorData* edata() const { return edata_; }

  // The same error with its message prefixed (e.g. by which function or parameter it concerns).
  PgError with_prefix(const std::string& prefix) const {
    if (edata_ == nullptr) return PgError(sqlerrcode_, prefix + message_, detail_, hint_, context_);
    return PgError(edata_->sqlerrcode, prefix + (edata_->message ? edata_->message : ""),
                   edata_->detail ? edata_->detail : "", edata_->hint ? edata_->hint : "");
  }
  int sqlerrcode() const { return edata_ != nullptr ? edata_->sqlerrcode : sqlerrcode_; }
  const std::string& message() const { return message_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }
  const std::string& context() const { return context_; }

 private:
  ErrorData* edata_ = nullptr;
  int sqlerrcode_ = ERRCODE_INTERNAL_ERROR;
  std::string message_, detail_, hint_, context_;
};

// Trivially destructible record of a captured exception, safe to keep in a frame that longjmps.
struct PendingError {
  ErrorData* edata = nullptr;
  bool active = false;
};

// Converts the exception being handled into a PendingError (must be called inside a catch block).
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
    MemoryContextSwitchTo(mcxt);
    edata = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (cpp_error) std::rethrow_exception(cpp_error);
  if (edata != nullptr) throw PgError(edata);
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
