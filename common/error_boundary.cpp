#include "common/error_boundary.h"

#include <new>

namespace pgx {
namespace {

std::string str(const char* s) { return s != nullptr ? std::string(s) : std::string(); }
char* dup_or_null(const std::string& s) { return s.empty() ? nullptr : pstrdup(s.c_str()); }

}  // namespace

PgError PgError::from_edata(const ErrorData* e) {
  ErrorFields f;
  f.sqlerrcode = e->sqlerrcode;
  f.message = str(e->message);
  f.detail = str(e->detail);
  f.hint = str(e->hint);
  f.context = str(e->context);
  f.schema_name = str(e->schema_name);
  f.table_name = str(e->table_name);
  f.column_name = str(e->column_name);
  f.datatype_name = str(e->datatype_name);
  f.constraint_name = str(e->constraint_name);
  f.internalquery = str(e->internalquery);
  f.internalpos = e->internalpos;
  f.filename = str(e->filename);
  f.funcname = str(e->funcname);
  f.lineno = e->lineno;
  f.from_postgres = true;
  return PgError(std::move(f));
}

PendingError capture_current_exception() noexcept {
  PendingError p;
  p.active = true;
  try {
    try {
      throw;
    } catch (const PgError& e) {
      p.error = new PgError(e);
    } catch (const std::bad_alloc&) {
      p.error = nullptr;  // raise() reports out of memory without allocating here
    } catch (const std::exception& e) {
      p.error = new PgError(ERRCODE_INTERNAL_ERROR, e.what());
    } catch (...) {
      p.error = new PgError(ERRCODE_INTERNAL_ERROR, "unknown C++ exception");
    }
  } catch (...) {
    p.error = nullptr;  // allocating the copy failed: out of memory
  }
  return p;
}

void raise(const PendingError& pending) {
  if (pending.error == nullptr) {
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  }
  // Move everything into palloc'd memory and free the C++ object before longjmp'ing.
  const ErrorFields& f = pending.error->fields();
  ErrorData* e = static_cast<ErrorData*>(palloc0(sizeof(ErrorData)));
  e->elevel = ERROR;
  e->sqlerrcode = f.sqlerrcode;
  e->message = pstrdup(f.message.c_str());
  e->detail = dup_or_null(f.detail);
  e->hint = dup_or_null(f.hint);
  e->context = dup_or_null(f.context);
  e->schema_name = dup_or_null(f.schema_name);
  e->table_name = dup_or_null(f.table_name);
  e->column_name = dup_or_null(f.column_name);
  e->datatype_name = dup_or_null(f.datatype_name);
  e->constraint_name = dup_or_null(f.constraint_name);
  e->internalquery = dup_or_null(f.internalquery);
  e->internalpos = f.internalpos;
  e->filename = dup_or_null(f.filename);
  e->funcname = dup_or_null(f.funcname);
  e->lineno = f.lineno;
  e->assoc_context = CurrentMemoryContext;
  e->output_to_server = true;
  e->output_to_client = true;
  bool from_postgres = f.from_postgres;
  delete pending.error;
  if (!from_postgres) {
    // An error of our own: report it through ereport so that it gets the usual context.
    ereport(ERROR,
            (errcode(e->sqlerrcode), errmsg_internal("%s", e->message),
             e->detail ? errdetail_internal("%s", e->detail) : 0,
             e->hint ? errhint("%s", e->hint) : 0, e->context ? errcontext("%s", e->context) : 0));
  }
  ReThrowError(e);
}

}  // namespace pgx
