// Shared parts of the conversion tests (issue 11): the catalog of JavaScript values, the SQL types,
// the Matrix that runs and classifies cells under a hang guard (test/pg/guarded_session.h), and a
// fixture with its own schema (cm_<pid>_<n>) and probe functions.
//
// A cell must end in a value that reads back through its text form, or in a clear error: a
// non-internal SQLSTATE (not XX***/58***) with a readable message, within 5 s, and the backend must
// answer afterwards. A lost connection is a crash.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/guarded_session.h"
#include "test/pg/pg_client.h"

namespace convtest {

using pgtest::Connection;
using pgtest::GuardedSession;
using pgtest::Outcome;

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// ---- the JavaScript catalog ---------------------------------------------------------------------

struct JsValue {
  const char* name;
  const char* expr;  // a JS expression (evaluated anew for each cell)
};

// At least 40 values (the issue's list); each expression builds a fresh value.
inline const std::vector<JsValue> kCatalog = {
    {"0", "0"},
    {"42", "42"},
    {"-7", "-7"},
    {"1.5", "1.5"},
    {"-0.5", "-0.5"},
    {"-0", "-0"},
    {"NaN", "NaN"},
    {"Infinity", "Infinity"},
    {"-Infinity", "-Infinity"},
    {"2**31", "2 ** 31"},
    {"-2147483649", "-2147483649"},
    {"2**53+1", "2 ** 53 + 1"},
    {"1e300", "1e300"},
    {"1e-50", "1e-50"},
    {"5e-324", "5e-324"},
    {"1e16", "1e16"},
    {"5n", "5n"},
    {"-5n", "-5n"},
    {"2n**63n", "2n ** 63n"},
    {"2n**64n+5n", "2n ** 64n + 5n"},
    {"-(2n**200n)", "-(2n ** 200n)"},
    {"'42'", "'42'"},
    {"'-3.25'", "'-3.25'"},
    {"' 12 '", "' 12 '"},
    {"'1e400'", "'1e400'"},
    {"'abc'", "'abc'"},
    {"''", "''"},
    {"'a\\0b'", "'a\\u0000b'"},
    {"'\\0'", "'\\u0000'"},
    {"lone surrogate", "'x\\ud800y'"},
    {"astral", "'a\\u{1F600}b'"},
    {"'2024-02-29T12:00:00Z'", "'2024-02-29T12:00:00Z'"},
    {"'infinity'", "'infinity'"},
    {"'{1,2}'", "'{1,2}'"},
    {"'\\\\x00ff'", "'\\\\x00ff'"},
    {"100k string", "'x'.repeat(100000)"},
    {"null", "null"},
    {"undefined", "undefined"},
    {"true", "true"},
    {"false", "false"},
    {"plain object", "({ a: 1, b: 'two', c: [3] })"},
    {"null-prototype object", "Object.assign(Object.create(null), { a: 1 })"},
    {"class instance", "new (class Point { constructor() { this.x = 1; this.y = 2 } })()"},
    {"empty array", "[]"},
    {"sparse array", "[1, , 3]"},
    {"huge-length array", "(() => { const a = []; a.length = 2 ** 32 - 1; return a })()"},
    {"nested array", "[[1, 2], [3, 4]]"},
    {"ragged nested array", "[[1], [2, 3]]"},
    {"array with null", "[1, null, 3]"},
    {"mixed array", "[1, 'a', null, true]"},
    {"Date(0)", "new Date(0)"},
    {"Date 2024", "new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123))"},
    {"invalid Date", "new Date(NaN)"},
    {"Date min (-271821)", "new Date(-8.64e15)"},
    {"Date max (+275760)", "new Date(8.64e15)"},
    {"Symbol", "Symbol('s')"},
    {"function", "function f() { return 1 }"},
    {"throwing Proxy", "new Proxy({}, THROWING_TRAPS)"},
    {"throwing Proxy of array", "new Proxy([1, 2], THROWING_TRAPS)"},
    {"throwing getter", "({ get v() { throw new Error('getter boom') } })"},
    {"throwing toJSON", "({ toJSON() { throw new Error('toJSON boom') } })"},
    {"throwing toString/valueOf",
     "({ toString() { throw new Error('toString boom') }, valueOf() { throw new Error('valueOf "
     "boom') } })"},
    {"valueOf 7", "({ valueOf() { return 7 } })"},
    {"cyclic object", "(() => { const o = { a: 1 }; o.self = o; return o })()"},
    {"Uint8Array", "new Uint8Array([0, 1, 255])"},
    {"Float64Array", "new Float64Array([1.5, NaN])"},
    {"ArrayBuffer", "new Uint8Array([1, 2]).buffer"},
    {"DataView", "new DataView(new Uint8Array([3, 4]).buffer)"},
    {"Map", "new Map([['a', 1]])"},
    {"Set", "new Set([1, 2])"},
    {"resolved Promise", "Promise.resolve(1)"},
    {"rejected Promise",
     "(() => { const p = Promise.reject(new Error('rejected')); p.catch(() => {}); return p })()"},
    {"Error", "new Error('an error')"},
    {"RegExp", "/re/g"},
    {"Number object", "new Number(5)"},
    {"String object", "new String('s')"},
};

// The catalog as a JS prelude: CAT[i]() builds value i.
inline std::string catalog_js() {
  std::string js = R"JS(
const boom = (what) => () => { throw new Error('trap ' + what) };
const THROWING_TRAPS = { get: boom('get'), has: boom('has'), ownKeys: boom('ownKeys'),
  getOwnPropertyDescriptor: boom('getOwnPropertyDescriptor'), getPrototypeOf: boom('getPrototypeOf'),
  set: boom('set'), defineProperty: boom('defineProperty'), apply: boom('apply') };
const CAT = [
)JS";
  for (const auto& v : kCatalog) js += fmt::format("  () => ({}),\n", v.expr);
  js += "];\n";
  return js;
}

// ---- SQL types --------------------------------------------------------------------------------

struct SqlType {
  std::string tag;   // identifier-safe
  std::string name;  // as written in SQL; "@S@" names the test's schema
};

inline const std::vector<SqlType> kTypes = {
    {"int2", "int2"},
    {"int4", "int4"},
    {"int8", "int8"},
    {"oid", "oid"},
    {"float4", "float4"},
    {"float8", "float8"},
    {"numeric", "numeric"},
    {"bool", "bool"},
    {"text", "text"},
    {"varchar", "varchar"},
    {"bpchar", "bpchar"},
    {"name", "name"},
    {"qchar", "\"char\""},
    {"bytea", "bytea"},
    {"date", "date"},
    {"time", "time"},
    {"timetz", "timetz"},
    {"timestamp", "timestamp"},
    {"timestamptz", "timestamptz"},
    {"interval", "interval"},
    {"uuid", "uuid"},
    {"inet", "inet"},
    {"json", "json"},
    {"jsonb", "jsonb"},
    {"posint", "@S@.posint"},        // domain over int4 with a CHECK
    {"shorttext", "@S@.shorttext"},  // domain over text with a CHECK
    {"comp", "@S@.comp"},            // composite (a int4, b text): objects both ways
};

// ---- classification -------------------------------------------------------------------------

struct CellResult {
  std::string cell;     // e.g. "result int4 <- 1.5"
  std::string verdict;  // "value", "error", "crash"
  std::string sqlstate;
  std::string message;
  std::string value;
  std::string failure;  // "" when the cell passed; else the cause
  double seconds = 0;
};

// Normalizes a message for grouping: the test's schema and function names vary per cell.
inline std::string group_message(std::string m, const std::string& schema) {
  m = replace_all(m, schema + ".", "S.");
  // "plts function S.r_int4" -> "plts function S.<fn>"
  for (size_t at = m.find("S."); at != std::string::npos; at = m.find("S.", at + 2)) {
    size_t end = at + 2;
    while (end < m.size() && (std::isalnum(static_cast<unsigned char>(m[end])) || m[end] == '_'))
      end++;
    m.replace(at + 2, end - at - 2, "<fn>");
  }
  if (m.size() > 200) m = m.substr(0, 200) + "...";
  return m;
}

class Matrix {
 public:
  Matrix(GuardedSession& s, std::string schema) : s_(s), schema_(std::move(schema)) {}

  // Runs `sql` (one cell). When it gives a non-NULL value and `recast_type` is set, the value's
  // text must cast back to that type and print the same.
  CellResult run(const std::string& cell, const std::string& sql, const std::string& recast_type) {
    CellResult r;
    r.cell = cell;
    Outcome o = s_.run(sql);
    r.seconds = o.seconds;
    r.sqlstate = o.sqlstate;
    r.message = o.message;
    if (o.kind == Outcome::Kind::kConnectionLost) {
      r.verdict = "crash";
      crashes_++;
      r.failure = o.server_restarted ? "crash: server restarted" : "crash: connection lost";
      if (!o.guard.empty()) r.failure += " (hang guard used " + o.guard + ")";
    } else if (o.kind == Outcome::Kind::kError) {
      r.verdict = "error";
      if (!o.broken_after.empty()) {
        r.failure = "backend unusable after the error (select 1 -> " + o.broken_after + ")";
      } else if (!o.guard.empty()) {
        r.failure = "hang: stopped only by the guard's " + o.guard;
      } else if (pgtest::internal_sqlstate(o.sqlstate) || o.sqlstate == "(none)") {
        r.failure = "internal SQLSTATE " + o.sqlstate;
      } else if (auto why = pgtest::unreadable_message(o.message); !why.empty()) {
        r.failure = "unreadable message (" + why + ")";
      }
    } else {
      r.verdict = "value";
      auto v = o.value();
      r.value = v ? *v : "NULL";
      if (v && !recast_type.empty()) {
        Outcome back = s_.run(fmt::format("select ($1::{})::text", recast_type), {*v});
        if (back.kind == Outcome::Kind::kConnectionLost) {
          r.failure = "crash while re-casting the returned value";
          crashes_++;
        } else if (!back.ok()) {
          r.failure = fmt::format("returned value cannot be re-cast to {}: {} {}", recast_type,
                                  back.sqlstate, back.message);
        } else if (back.value() != v) {
          r.failure = fmt::format("returned value changes when re-cast to {}", recast_type);
        }
      }
    }
    if (r.failure.empty() && r.seconds > 5.0) r.failure = "slow: more than 5 s";
    if (r.verdict != "crash") {
      Outcome ping = s_.run("select 1");
      if (!ping.ok()) {
        r.failure = "backend did not answer afterwards: " + ping.sqlstate + " " + ping.message;
        if (ping.kind == Outcome::Kind::kConnectionLost) crashes_++;
      }
    }
    cells_++;
    if (!r.failure.empty()) failures_.push_back(r);
    all_.push_back(r);
    return r;
  }

  // PLTS_MATRIX_DUMP=<file> appends every cell (cell, verdict, SQLSTATE, value or message,
  // failure) as tab-separated lines, for reading what each conversion does today.
  void dump() const {
    const char* path = std::getenv("PLTS_MATRIX_DUMP");
    if (!path) return;
    std::ofstream out(path, std::ios::app);
    auto clean = [](std::string v) {
      if (v.size() > 120) v = v.substr(0, 120) + "...";
      for (char& ch : v)
        if (ch == '\t' || ch == '\n') ch = ' ';
      return v;
    };
    for (const auto& r : all_) {
      out << clean(r.cell) << '\t' << r.verdict << '\t' << r.sqlstate << '\t'
          << clean(r.verdict == "value" ? r.value : group_message(r.message, schema_)) << '\t'
          << r.failure << '\n';
    }
  }

  int cells() const { return cells_; }
  int crashes() const { return crashes_; }
  const std::vector<CellResult>& failures() const { return failures_; }

  // Failing cells grouped by (cause, SQLSTATE, message).
  // PLTS_MATRIX_EXAMPLES overrides how many cells each group lists.
  std::string report(size_t examples = 6) const {
    if (const char* e = std::getenv("PLTS_MATRIX_EXAMPLES")) examples = std::stoul(e);
    std::map<std::string, std::vector<const CellResult*>> groups;
    for (const auto& f : failures_) {
      std::string key = f.failure;
      if (f.verdict == "error" || f.verdict == "crash") {
        key += " | " + f.sqlstate + " | " + group_message(f.message, schema_);
      } else if (f.failure.rfind("returned value", 0) == 0) {
        key = group_message(key, schema_);
      }
      groups[key].push_back(&f);
    }
    std::vector<std::pair<std::string, std::vector<const CellResult*>>> sorted(groups.begin(),
                                                                               groups.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second.size() > b.second.size();
    });
    std::ostringstream out;
    for (const auto& [key, cells] : sorted) {
      out << "  [" << cells.size() << "] " << key << "\n";
      for (size_t i = 0; i < cells.size() && i < examples; i++) {
        out << "      " << cells[i]->cell;
        if (cells[i]->verdict == "value") {
          std::string v = cells[i]->value;
          if (v.size() > 80) v = v.substr(0, 80) + "...";
          out << " => " << v;
        }
        out << "\n";
      }
      if (cells.size() > examples) out << "      ... and " << cells.size() - examples << " more\n";
    }
    return out.str();
  }

 private:
  GuardedSession& s_;
  std::string schema_;
  int cells_ = 0;
  int crashes_ = 0;
  std::vector<CellResult> failures_;
  std::vector<CellResult> all_;
};

// ---- fixture --------------------------------------------------------------------------------

class ConversionFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("cm_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
    admin_->query("create schema " + schema_);
    admin_->query(fmt::format("create domain {}.posint as int4 check (value > 0)", schema_));
    admin_->query(
        fmt::format("create domain {}.shorttext as text check (length(value) < 10)", schema_));
    admin_->query(fmt::format("create type {}.comp as (a int4, b text)", schema_));
    admin_->query(fmt::format("create type {0}.nested as (c {0}.comp, cs {0}.comp[], j jsonb)",
                              schema_));
    // Bodies that run away are stopped by statement_timeout first; the hang guard is the last
    // resort.
    session_ = std::make_unique<GuardedSession>(std::vector<std::string>{
        "set statement_timeout = '8s'", "set client_min_messages = warning",
        "set plts.max_query_rows = 0"});
    log_from_ = pgtest::server_log_size();
  }

  void TearDown() override {
    for (const auto& line : pgtest::server_log_crashes(log_from_))
      ADD_FAILURE() << "server log: " << line;
    try {
      Connection c;
      c.query("set client_min_messages = warning");
      c.query("drop schema if exists " + schema_ + " cascade");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << schema_ << " failed: " << e.what();
    }
  }

  std::string type_name(const SqlType& t) const { return replace_all(t.name, "@S@", schema_); }

  // Creates <schema>.<signature>; "@S@" in the body names the schema. A crash of another backend
  // may have ended the admin connection: then wait for the server and retry once.
  void fn(const std::string& signature, const std::string& body) {
    const std::string sql = fmt::format("create function {}.{} language plts as $js${}$js$",
                                        schema_, signature, replace_all(body, "@S@", schema_));
    try {
      admin_->query(sql);
    } catch (const pgtest::SqlError&) {
      if (admin_->alive()) throw;
      GuardedSession::wait_for_server();
      admin_ = std::make_unique<Connection>();
      admin_->query(sql);
    }
  }

  // A function <name>() that converts the JS expression `expr` in direction `dir` to `type` and
  // returns it (result directions) or its text (ctx.db directions); returns the call to select and
  // the type its value re-casts to.
  struct Probe {
    std::string sql;
    std::string recast;
  };
  Probe probe(const std::string& dir, const std::string& type, const std::string& expr) {
    const std::string name = fmt::format("probe{}", ++probes_);
    const std::string prelude = catalog_js();
    std::string sig, body, recast;
    if (dir == "result") {
      sig = fmt::format("{}() returns {}", name, type);
      body = fmt::format("export default () => ({});", expr);
      recast = type;
    } else if (dir == "array") {
      sig = fmt::format("{}() returns {}[]", name, type);
      body = fmt::format("export default () => [({})];", expr);
      recast = type + "[]";
    } else if (dir == "param") {
      sig = fmt::format("{}() returns text", name);
      body = fmt::format(
          "export default async (ctx) => (await ctx.db.query('select ($1::{})::text as v', "
          "[({})]))[0].v;",
          type, expr);
      recast = type;
    } else if (dir == "param-array") {
      sig = fmt::format("{}() returns text", name);
      body = fmt::format(
          "export default async (ctx) => (await ctx.db.query('select ($1::{}[])::text as v', "
          "[[({})]]))[0].v;",
          type, expr);
      recast = type + "[]";
    } else if (dir == "jsonb-member") {
      sig = fmt::format("{}() returns jsonb", name);
      body = fmt::format("export default () => ({{ v: ({}) }});", expr);
      recast = "jsonb";
    } else {
      throw std::runtime_error("unknown direction " + dir);
    }
    fn(sig, prelude + body);
    return {fmt::format("select {}.{}()::text", schema_, name), recast};
  }

  // Runs one probe; returns the outcome and, for values, the text.
  Outcome convert(const std::string& dir, const std::string& type, const std::string& expr) {
    Probe p = probe(dir, type, expr);
    return session_->run(p.sql);
  }

  std::string schema_;
  std::unique_ptr<Connection> admin_;
  std::unique_ptr<GuardedSession> session_;
  long log_from_ = 0;
  int probes_ = 0;
};

inline std::string describe(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::kValue:
      return "value " + o.value().value_or("NULL");
    case Outcome::Kind::kError:
      return "error " + o.sqlstate + ": " + o.message;
    case Outcome::Kind::kConnectionLost:
      return "connection lost (" + o.sqlstate + ": " + o.message + ")" +
             (o.server_restarted ? ", server restarted" : "");
  }
  return "";
}

}  // namespace convtest
