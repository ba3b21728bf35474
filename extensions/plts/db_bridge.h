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

// ctx.db's other methods (prepare, cursors, transactions, fn, notify), one native:
// (token, op, level, a, b, c) => Promise (see DbOp in db_bridge.cpp).
void db_op_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
// ctx.db.ident(name) / ctx.db.literal(value): quote_ident / quote_nullable, synchronous.
void db_ident_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void db_literal_callback(const v8::FunctionCallbackInfo<v8::Value>& info);

struct CallFrame;
// Ends what a call's ctx.db left open: rolls back its transactions, closes its cursors, frees its
// prepared statements. Before the call's SPI connection finishes; throws PgError.
void db_frame_end(CallFrame& frame);

// Frees the statements kept by ctx.db.prepare(sql, types, { keep: true }) (their JS objects are
// gone: the realms are being dropped).
void free_kept_statements();

// Called when the outermost frame ends (SPI is finished by the frame's owner).
size_t plan_cache_size();

}  // namespace plts
