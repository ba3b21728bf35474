// V8 flags are process-wide and must be identical in the backend and in the snapshot generator
// (a snapshot made under other flags is rejected or, worse, misbehaves).
#pragma once

namespace plts {

// --max-optimized-bytecode-size: without it TurboFan on typescript.js grows RSS without bound.
// --no-expose-wasm: no WebAssembly compile of user bytes.
// --no-verify-snapshot-checksum: plts checks the compiler snapshot's content hash itself, before
// V8 sees it; V8's own pass over the blob would double the deserialization time.
inline constexpr char kV8Flags[] =
    "--max-optimized-bytecode-size=8192 --no-expose-wasm --no-verify-snapshot-checksum";

}  // namespace plts
