// ctx.db: the bridge from JavaScript to SPI. Each call runs in an internal subtransaction, with
// parameter types inferred by PostgreSQL, plans cached per backend (bounded LRU), read-only mode
// enforced by PostgreSQL itself, and the plts.max_* limits.
#pragma once

#include <v8.h>

namespace plts {

void db_query_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void db_exec_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
// ctx.db.commit() / rollback() of a procedure: (token, rollback) => Promise<void>.
void db_txn_callback(const v8::FunctionCallbackInfo<v8::Value>& info);

// Called when the outermost frame ends (SPI is finished by the frame's owner).
size_t plan_cache_size();

}  // namespace plts
