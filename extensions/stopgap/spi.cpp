#include "extensions/stopgap/spi.h"

#include <unordered_map>

extern "C" {
#include "executor/spi.h"
}

namespace stopgap {

namespace {

const std::string kEmpty;

// Plans of the static statements, kept for the backend (keyed by the statement's address: the
// callers pass string literals). PostgreSQL's plan cache re-plans them when the catalog changes.
std::unordered_map<const char*, SPIPlanPtr>& plans() {
  static auto* m = new std::unordered_map<const char*, SPIPlanPtr>();
  return *m;
}

Rows collect(uint64 n) {
  Rows rows;
  if (SPI_tuptable == nullptr) return rows;
  TupleDesc desc = SPI_tuptable->tupdesc;
  rows.reserve(n);
  for (uint64 r = 0; r < n; r++) {
    Row row;
    row.cells.reserve(desc->natts);
    for (int c = 1; c <= desc->natts; c++) {
      char* v = SPI_getvalue(SPI_tuptable->vals[r], desc, c);
      if (v == nullptr) {
        row.cells.emplace_back(std::nullopt);
      } else {
        row.cells.emplace_back(std::string(v));
        pfree(v);
      }
    }
    rows.push_back(std::move(row));
  }
  SPI_freetuptable(SPI_tuptable);
  return rows;
}

}  // namespace

const std::string& Row::str(size_t i) const {
  const Value& v = cells.at(i);
  return v ? *v : kEmpty;
}

SpiSession::SpiSession() {
  pgx::pg_guard([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "stopgap: SPI_connect failed");
  });
  open_ = true;
}

SpiSession::~SpiSession() {
  // On an error the (sub)transaction's abort closes the connection; nothing to do here then.
  if (open_ && std::uncaught_exceptions() == 0) {
    try {
      finish();
    } catch (...) {
    }
  }
}

void SpiSession::finish() {
  if (!open_) return;
  open_ = false;
  pgx::pg_guard([] { SPI_finish(); });
}

Rows query(const char* sql, const std::vector<Value>& params) {
  Rows rows;
  pgx::pg_guard([&] {
    int n = static_cast<int>(params.size());
    auto it = plans().find(sql);
    SPIPlanPtr plan;
    if (it != plans().end()) {
      plan = it->second;
    } else {
      Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * (n > 0 ? n : 1)));
      for (int i = 0; i < n; i++) types[i] = TEXTOID;
      plan = SPI_prepare(sql, n, types);
      if (plan == nullptr)
        elog(ERROR, "stopgap: cannot prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
      if (SPI_keepplan(plan) != 0) elog(ERROR, "stopgap: SPI_keepplan failed");
      plans().emplace(sql, plan);
    }
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    char* nulls = static_cast<char*>(palloc(n + 1));
    for (int i = 0; i < n; i++) {
      const Value& p = params[i];
      values[i] = p ? PointerGetDatum(cstring_to_text_with_len(p->data(), static_cast<int>(p->size())))
                    : 0;
      nulls[i] = p ? ' ' : 'n';
    }
    int rc = SPI_execute_plan(plan, values, nulls, false, 0);
    if (rc < 0) elog(ERROR, "stopgap: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
    rows = collect(SPI_processed);
  });
  return rows;
}

Value scalar(const char* sql, const std::vector<Value>& params) {
  Rows rows = query(sql, params);
  if (rows.empty() || rows[0].cells.empty()) return std::nullopt;
  return rows[0][0];
}

void run(const std::string& sql) {
  pgx::pg_guard([&] {
    int rc = SPI_execute(sql.c_str(), false, 0);
    if (rc < 0) elog(ERROR, "stopgap: statement failed: %s", SPI_result_code_string(rc));
    if (SPI_tuptable != nullptr) SPI_freetuptable(SPI_tuptable);
  });
}

Rows query_text(const std::string& sql, const std::vector<Value>& params) {
  Rows rows;
  pgx::pg_guard([&] {
    int n = static_cast<int>(params.size());
    Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * (n > 0 ? n : 1)));
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    char* nulls = static_cast<char*>(palloc(n + 1));
    for (int i = 0; i < n; i++) {
      const Value& p = params[i];
      types[i] = TEXTOID;
      values[i] = p ? PointerGetDatum(cstring_to_text_with_len(p->data(), static_cast<int>(p->size()))) : 0;
      nulls[i] = p ? ' ' : 'n';
    }
    int rc = SPI_execute_with_args(sql.c_str(), n, types, values, nulls, false, 0);
    if (rc < 0) elog(ERROR, "stopgap: statement failed: %s", SPI_result_code_string(rc));
    rows = collect(SPI_processed);
  });
  return rows;
}

std::string literal(const std::string& value) {
  std::string out;
  pgx::pg_guard([&] {
    char* q = quote_literal_cstr(value.c_str());
    out = q;
    pfree(q);
  });
  return out;
}

}  // namespace stopgap
