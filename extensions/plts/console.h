// Logging from JavaScript: the realm's `console` and the structured `ctx.log`, both reported
// through ereport with the running function named in the CONTEXT line. Values are formatted in
// C++ over V8's API (see inspect.h), so logging never runs user code (getters, Proxy traps,
// toString). Output is bounded per message and per outermost call (plts.max_log_bytes).
#pragma once

#include <v8.h>

namespace plts {

struct Realm;

// Replaces the context's `console` (built on first access) and makes the realm's frozen ctx.log
// object (Realm::log). Cheap: no script is compiled; the natives come from per-isolate templates.
void install_logging(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm);

}  // namespace plts
