// Per-backend counters behind stopgap.metrics().
#pragma once

#include <cstdint>
#include <string>

namespace stopgap {

enum class Op { kDeploy = 0, kRollback, kDiff, kCall, kCount };

// What kind of failure an operation ended in, from its SQLSTATE.
enum class ErrorClass {
  kCompile = 0,   // 42601: TypeScript did not compile
  kPermission,    // 42501: the caller may not do this
  kInvalidInput,  // classes 22, 3F, 42 (others): bad arguments, missing or ambiguous objects
  kState,         // class 55: e.g. rollback past the first deployment, unmanaged live schema
  kConflict,      // class 40, 55P03: serialization failure, deadlock, lock not available
  kCanceled,      // class 57: cancel, statement timeout, shutdown
  kInternal,      // anything else
  kCount
};

ErrorClass classify_sqlstate(const std::string& sqlstate);
const char* error_class_name(ErrorClass c);
const char* op_name(Op op);

struct OpCounters {
  uint64_t calls = 0, errors = 0;
  uint64_t latency_total_us = 0, latency_last_us = 0, latency_max_us = 0;
};

struct Metrics {
  OpCounters ops[static_cast<int>(Op::kCount)];
  uint64_t error_classes[static_cast<int>(ErrorClass::kCount)] = {};
  uint64_t last_latency_us = 0;  // of the operation recorded most recently
};

extern Metrics metrics;

// Counts one finished call of op; sqlstate is "" when it succeeded.
void record(Op op, int64_t latency_us, const std::string& sqlstate);

}  // namespace stopgap
