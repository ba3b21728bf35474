// Errors in both directions: JavaScript exceptions -> PostgreSQL errors (with the function, the
// stage and the JS stack), and PostgreSQL errors -> JavaScript Error objects (with sqlstate,
// detail, hint).
#pragma once

#include <string>

#include <v8.h>

#include "common/error_boundary.h"

namespace plts {

// Thrown by C++ code when a V8 call failed because a JS exception is pending in the enclosing
// TryCatch (or execution is terminating). The TryCatch holds the details.
struct JsException {};

// Throws JsException when a V8 operation failed (an exception is pending).
inline void must(v8::Maybe<bool> m) {
  if (m.IsNothing()) throw JsException();
}

// True when the running call must stop: the watchdog asked (deadline, cancel, terminate), the
// heap limit was hit, or V8 is terminating.
bool call_must_stop(v8::Isolate* iso);

// For C++ loops that run no JavaScript over user-sized data (rows, array elements): every 1024
// steps, throws JsException when the call must stop.
class StopPoll {
 public:
  explicit StopPoll(v8::Isolate* iso) : iso_(iso) {}
  void check() {
    if ((++n_ & 1023) == 0 && call_must_stop(iso_)) throw JsException();
  }

 private:
  v8::Isolate* iso_;
  unsigned n_ = 0;
};

// For V8 results that may be ignored where failure leaves nothing to do (a pending exception then
// propagates by itself).
template <typename T>
inline void ignore_result(T&&) {}

enum class Stage { kCompile, kLoad, kExecute };
const char* stage_name(Stage stage);

// Where a JS error happened, for the error context.
struct ErrorSite {
  std::string qualified_name;  // schema.name, or "inline code block"
  Stage stage;
};

// Converts the exception caught by `tc` (not a termination) into a PostgreSQL error: SQLSTATE
// from a `sqlstate` property (P0001 otherwise, 42601 for compile errors), message from the Error,
// `detail`/`hint` properties honored, the JS stack in the context.
pgx::PgError js_to_pg_error(v8::Isolate* iso, v8::Local<v8::Context> ctx, const v8::TryCatch& tc,
                            const ErrorSite& site);

// The same for an exception value (a rejected promise's reason, a module's evaluation error).
pgx::PgError js_value_to_pg_error(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                  v8::Local<v8::Value> exc, v8::Local<v8::Message> msg,
                                  const ErrorSite& site);

// Makes a JS Error for a PostgreSQL error, with sqlstate/detail/hint/context properties.
v8::Local<v8::Value> pg_to_js_error(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                    const pgx::PgError& err);

// SQLSTATE as five characters.
std::string sqlstate_text(int sqlerrcode);
int sqlstate_code(const std::string& text);  // 0 when not a valid SQLSTATE

}  // namespace plts
