// stopgap's door to SQL: statements run through SPI with bound text parameters, rows come back as
// C++ strings. Every call that can ereport runs in pgx::pg_guard, so an error arrives as a
// pgx::PgError and no longjmp crosses C++ frames.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error_boundary.h"

namespace stopgap {

using Value = std::optional<std::string>;  // one SQL value as text; nullopt is NULL

struct Row {
  std::vector<Value> cells;
  const Value& operator[](size_t i) const { return cells.at(i); }
  bool null(size_t i) const { return !cells.at(i).has_value(); }
  // The value, or "" for NULL.
  const std::string& str(size_t i) const;
};
using Rows = std::vector<Row>;

// SPI_connect for the lifetime of one SQL entry point; SPI_finish when it returns normally (an
// error ends the transaction or subtransaction, which closes the connection itself).
class SpiSession {
 public:
  SpiSession();
  ~SpiSession();
  SpiSession(const SpiSession&) = delete;
  SpiSession& operator=(const SpiSession&) = delete;
  void finish();

 private:
  bool open_ = false;
};

// Runs a static statement (its plan kept for the backend) with parameters $1..$n bound as text:
// the SQL casts them ($1::bigint). Returns the rows, every column as text.
Rows query(const char* sql, const std::vector<Value>& params = {});
// The single value of a one-row, one-column query (nullopt: NULL or no row).
Value scalar(const char* sql, const std::vector<Value>& params = {});
// Runs a statement built at run time (DDL with identifiers quoted by the caller), unplanned.
void run(const std::string& sql);
// A statement built at run time (identifiers quoted by the caller) with parameters bound as text,
// unplanned. Returns the rows, every column as text.
Rows query_text(const std::string& sql, const std::vector<Value>& params);

// A literal, as quote_literal (identifiers: pgx::quote_ident in common/quote.h).
std::string literal(const std::string& value);

}  // namespace stopgap
