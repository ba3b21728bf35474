// The standard web globals every realm has, all without I/O: TextEncoder, TextDecoder, atob, btoa,
// structuredClone, queueMicrotask, crypto (getRandomValues, randomUUID, subtle.digest), URL,
// URLSearchParams and performance. Timers are absent: a call ends when its promise settles.
#pragma once

#include <v8.h>

namespace plts {

// Installs them on ctx's global as lazy data properties: nothing is built until user code first
// reads one, in that realm. Call while the context is new, before any user code ran in it (what
// the URL bundle needs of the intrinsics is captured here).
void install_web_globals(v8::Isolate* iso, v8::Local<v8::Context> ctx);

}  // namespace plts
