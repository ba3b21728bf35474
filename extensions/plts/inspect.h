// Readable text of any JavaScript value for log messages, in the manner of node's util.inspect:
// nested objects to a depth, strings quoted inside structures, Map/Set/Date/RegExp/Error/BigInt/
// Symbol/typed arrays/functions, cycles as [Circular], long collections cut short.
//
// Written over V8's API so that no user code runs: getters are shown as [Getter], not called; a
// Proxy shows its target without any trap running; toString/toJSON/Symbol.toStringTag are never
// called. So formatting cannot loop forever or throw on odd values.
#pragma once

#include <cstddef>
#include <string>

#include <v8.h>

namespace plts {

struct InspectLimits {
  int depth = 4;                 // nesting levels shown; deeper objects are [Object], [Array]
  size_t max_items = 100;        // entries of one array, object, Map or Set
  size_t max_string = 10000;     // characters of a string inside a structure
  size_t max_bytes = 16 * 1024;  // the whole text; formatting stops past it
};

// One value: strings as they are when `top`, otherwise as util.inspect shows them.
std::string inspect_value(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v,
                          bool top, const InspectLimits& limits, bool* truncated);

// "    at fn (name.ts:line:col)" lines of the current JavaScript stack (console.trace), mapped to
// TypeScript, without plts's own frames.
std::string current_stack_lines(v8::Isolate* iso, int max_frames);

}  // namespace plts
