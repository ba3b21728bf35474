// V8 flags are process-wide and must be identical in the backend and in the snapshot generator
// (a snapshot made under other flags is rejected or, worse, misbehaves).
#pragma once

namespace plts {

// --max-optimized-bytecode-size: without it TurboFan on typescript.js grows RSS without bound.
// --no-expose-wasm: no WebAssembly compile of user bytes.
// --no-verify-snapshot-checksum: plts checks the compiler snapshot's content hash itself, before
// V8 sees it; V8's own pass over the blob would double the deserialization time.
// --always-sparkplug: functions get baseline machine code when they are compiled, instead of
// running in the interpreter until a call budget runs out. A function called once per statement
// stays interpreted for hundreds of statements otherwise, and the interpreter's bytecode handlers
// are spread over many cold code pages (a warm single-statement call was ~7 us slower).
inline constexpr char kV8Flags[] =
    "--max-optimized-bytecode-size=8192 --no-expose-wasm --no-verify-snapshot-checksum --always-sparkplug";

}  // namespace plts
