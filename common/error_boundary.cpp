#include "common/error_boundary.h"

#include <new>

namespace pgx {
namespace {

char* pstrdup_or_null(const std::string& s) { return s.empty() ? nullptr : pstrdup(s.c_str()); }

// Builds an ErrorData for an error of our own. Runs outside any C++ frame that could be skipped.
ErrorData* make_edata(int sqlerrcode, const char* message, char* detail, char* hint,
                      char* context) {
  ErrorData* e = static_cast<ErrorData*>(palloc0(sizeof(ErrorData)));
  e->elevel = ERROR;
  e->sqlerrcode = sqlerrcode;
  e->message = pstrdup(message);
  e->detail = detail;
  e->hint = hint;
  e->context = context;
  e->assoc_context = CurrentMemoryContext;
  e->output_to_server = true;
  e->output_to_client = true;
  return e;
}

}  // namespace

PendingError capture_current_exception() noexcept {
  PendingError p;
  p.active = true;
  try {
    throw;
  } catch (const PgError& e) {
    if (e.edata() != nullptr) {
      p.edata = e.edata();
    } else {
      p.edata = make_edata(e.sqlerrcode(), e.message().c_str(), pstrdup_or_null(e.detail()),
                           pstrdup_or_null(e.hint()), pstrdup_or_null(e.context()));
    }
  } catch (const std::bad_alloc&) {
    p.edata = nullptr;  // raise() reports out of memory without allocating here
  } catch (const std::exception& e) {
    p.edata = make_edata(ERRCODE_INTERNAL_ERROR, e.what(), nullptr, nullptr, nullptr);
  } catch (...) {
    p.edata =
        make_edata(ERRCODE_INTERNAL_ERROR, "unknown C++ exception", nullptr, nullptr, nullptr);
  }
  return p;
}

void raise(const PendingError& pending) {
  if (pending.edata == nullptr) {
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  }
  ErrorData* e = pending.edata;
  if (e->filename == nullptr) {
    // An error of our own: report it through ereport so that it gets the usual context.
    ereport(ERROR,
            (errcode(e->sqlerrcode), errmsg_internal("%s", e->message),
             e->detail ? errdetail_internal("%s", e->detail) : 0,
             e->hint ? errhint("%s", e->hint) : 0, e->context ? errcontext("%s", e->context) : 0));
  }
  ReThrowError(e);
}

}  // namespace pgx
