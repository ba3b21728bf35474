// Conversion matrix (issue 11, "make the class impossible"): every supported SQL type crossed with a
// catalog of hostile and ordinary JavaScript values in every direction (function result, array
// element, ctx.db parameter, ctx.db array parameter, jsonb/json member), every SQL edge value into
// JavaScript (argument, ctx.db row) and back, and a seeded random generator of nested values.
//
// Each cell runs as its own statement under a hang guard (test/pg/guarded_session.h) and must end
// in a value that reads back through its text form, or in a clear error: a non-internal SQLSTATE
// (not XX***/58***) with a readable message, within 5 s, and the backend must answer afterwards.
// A lost connection is a crash. The test prints
//   conversion matrix: N cells, K crashes, F failures
// and the failing cells grouped by cause. Exact semantics the issue requires are separate TEST()s
// (ConversionSemantics.*), so their failures read as a to-do list.
//
// Each test works in its own schema (cm_<pid>_<n>), dropped at the end; settings are SET per
// session only. The whole matrix takes a while: its tests are named *Slow* (label "slow" in ctest;
// exclude with --gtest_filter=-*Slow* or ctest -LE slow).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/guarded_session.h"
#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::GuardedSession;
using pgtest::Outcome;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
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
const std::vector<JsValue> kCatalog = {
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
std::string catalog_js() {
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

const std::vector<SqlType> kTypes = {
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
    {"posint", "@S@.posint"},      // domain over int4 with a CHECK
    {"shorttext", "@S@.shorttext"},  // domain over text with a CHECK
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
std::string group_message(std::string m, const std::string& schema) {
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
  CellResult run(const std::string& cell, const std::string& sql,
                 const std::string& recast_type) {
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
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
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

std::string describe(const Outcome& o) {
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

// ---- the matrix -----------------------------------------------------------------------------

using ConversionMatrixSlow = ConversionFixture;

// The SQL edge values read into JS (argument and ctx.db row) and returned as the same type.
struct EdgeValue {
  std::string type;     // SQL type ("@S@" for the schema)
  std::string literal;  // SQL literal text
};

const std::vector<EdgeValue> kEdgeValues = {
    {"int2", "32767"},
    {"int2", "-32768"},
    {"int4", "2147483647"},
    {"int4", "-2147483648"},
    {"int8", "9223372036854775807"},
    {"int8", "-9223372036854775808"},
    {"oid", "4294967295"},
    {"float4", "NaN"},
    {"float4", "-Infinity"},
    {"float4", "-0"},
    {"float4", "1.4e-45"},
    {"float4", "3.4028235e38"},
    {"float8", "NaN"},
    {"float8", "Infinity"},
    {"float8", "-0"},
    {"float8", "5e-324"},
    {"float8", "1.7976931348623157e308"},
    {"numeric", "NaN"},
    {"numeric", "Infinity"},
    {"numeric", "-Infinity"},
    {"numeric", "12345678901234567890.123456789"},
    {"numeric", "1e-1000"},
    {"bool", "true"},
    {"text", ""},
    {"text", "a\xF0\x9F\x98\x80z"},
    {"varchar", "ab"},
    {"bpchar", "ab   "},
    {"name", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"},
    {"\"char\"", "x"},
    {"bytea", "\\x"},
    {"bytea", "\\x00ff"},
    {"date", "infinity"},
    {"date", "-infinity"},
    {"date", "4713-01-01 BC"},
    {"date", "5874897-12-31"},
    {"time", "24:00:00"},
    {"timetz", "23:59:59.999999+15:59"},
    {"timestamp", "infinity"},
    {"timestamp", "-infinity"},
    {"timestamp", "4713-01-01 00:00:00 BC"},
    {"timestamp", "294276-12-31 23:59:59.999999"},
    {"timestamp", "2000-01-01 00:00:00.123456"},
    {"timestamptz", "infinity"},
    {"timestamptz", "-infinity"},
    {"timestamptz", "4713-01-01 00:00:00+00 BC"},
    {"timestamptz", "294276-12-31 23:59:59.999999+00"},
    {"interval", "-178000000 years"},
    {"uuid", "00000000-0000-0000-0000-000000000000"},
    {"json", "{\"a\":1,\"a\":2}"},
    {"json", "12345678901234567890"},
    {"json", "1e400"},
    {"jsonb", "12345678901234567890"},
    {"jsonb", "9007199254740993"},
    {"jsonb", "{\"n\": 12345678901234567890, \"m\": [0.1, 1e-400]}"},
    {"jsonb", "\"\\ud83d\\ude00\""},
    {"@S@.posint", "1"},
    {"int4[]", "{1,NULL,3}"},
    {"int4[]", "{NULL}"},
    {"int4[]", "{}"},
    {"int4[]", "[3:4]={1,2}"},
    {"int4[]", "{{1,2},{3,4}}"},
    {"int4[]", "[0:1][5:6]={{1,2},{3,4}}"},
    {"int4[]", "{{{1}}}"},
    {"int8[]", "{9223372036854775807,NULL}"},
    {"text[]", "{NULL,\"\",a}"},
    {"text[]", "{{a,b},{c,d}}"},
    {"float8[]", "{NaN,Infinity,-0}"},
    {"numeric[]", "{NaN,1.5}"},
    {"timestamp[]", "{infinity,-infinity,NULL}"},
    {"date[]", "{5874897-12-31}"},
    {"bool[]", "{t,NULL}"},
    {"bytea[]", "{\"\\\\x01\",NULL}"},
    {"jsonb[]", "{\"{\\\"a\\\":1}\",NULL}"},
    {"@S@.posint[]", "{1,2}"},
};

// JS that prints what it received (for the report), so "what JS sees" is visible.
const char* kShowJs = R"JS(
function show(v, d = 0) {
  if (d > 4) return '...';
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  const t = typeof v;
  if (t === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (t === 'bigint') return v + 'n';
  if (t === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...(' + v.length + ')' : v);
  if (t === 'boolean') return String(v);
  if (v instanceof Date) return 'Date(' + (isNaN(v.getTime()) ? 'Invalid' : v.toISOString()) + ')';
  if (Array.isArray(v)) return '[' + v.map((x) => show(x, d + 1)).join(',') + ']';
  if (ArrayBuffer.isView(v)) return v.constructor.name + '[' + Array.from(v).join(',') + ']';
  return (v.constructor ? v.constructor.name : 'Object') + '{' +
    Object.keys(v).map((k) => k + ':' + show(v[k], d + 1)).join(',') + '}';
}
)JS";

TEST_F(ConversionMatrixSlow, JsValuesIntoEverySqlType) {
  const std::string prelude = catalog_js();
  const int n = static_cast<int>(kCatalog.size());
  ASSERT_GE(n, 40);
  // One function per (type, direction), taking the catalog index.
  for (const auto& t : kTypes) {
    const std::string ty = type_name(t);
    fn(fmt::format("r_{}(i int) returns {}", t.tag, ty),
       prelude + "export default (ctx) => CAT[ctx.args.i]();");
    fn(fmt::format("a_{}(i int) returns {}[]", t.tag, ty),
       prelude + "export default (ctx) => [CAT[ctx.args.i]()];");
    fn(fmt::format("p_{}(i int) returns text", t.tag),
       prelude + fmt::format("export default async (ctx) => (await ctx.db.query('select "
                             "($1::{})::text as v', [CAT[ctx.args.i]()]))[0].v;",
                             ty));
    fn(fmt::format("q_{}(i int) returns text", t.tag),
       prelude + fmt::format("export default async (ctx) => (await ctx.db.query('select "
                             "($1::{}[])::text as v', [[CAT[ctx.args.i]()]]))[0].v;",
                             ty));
  }
  fn("jm(i int) returns jsonb", prelude + "export default (ctx) => ({ v: CAT[ctx.args.i]() });");
  fn("jsm(i int) returns json", prelude + "export default (ctx) => ({ v: CAT[ctx.args.i]() });");
  fn("jpm(i int) returns text",
     prelude + "export default async (ctx) => (await ctx.db.query('select ($1::jsonb)::text as v', "
               "[{ v: CAT[ctx.args.i]() }]))[0].v;");

  Matrix m(*session_, schema_);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i++) {
    const std::string v = kCatalog[i].name;
    for (const auto& t : kTypes) {
      const std::string ty = type_name(t);
      m.run(fmt::format("result {} <- {}", t.tag, v),
            fmt::format("select {}.r_{}({})::text", schema_, t.tag, i), ty);
      m.run(fmt::format("array {}[] <- [{}]", t.tag, v),
            fmt::format("select {}.a_{}({})::text", schema_, t.tag, i), ty + "[]");
      m.run(fmt::format("ctx.db param {} <- {}", t.tag, v),
            fmt::format("select {}.p_{}({})", schema_, t.tag, i), ty);
      m.run(fmt::format("ctx.db param {}[] <- [{}]", t.tag, v),
            fmt::format("select {}.q_{}({})", schema_, t.tag, i), ty + "[]");
    }
    m.run("jsonb member <- " + v, fmt::format("select {}.jm({})::text", schema_, i), "jsonb");
    m.run("json member <- " + v, fmt::format("select {}.jsm({})::text", schema_, i), "json");
    m.run("ctx.db param jsonb member <- " + v, fmt::format("select {}.jpm({})", schema_, i),
          "jsonb");
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format("conversion matrix (JS -> SQL): {} cells, {} crashes, {} failures "
                           "({:.1f} s)\n",
                           m.cells(), m.crashes(), m.failures().size(), secs)
            << m.report();
  m.dump();
  EXPECT_EQ(m.crashes(), 0);
  EXPECT_EQ(m.failures().size(), 0u);
  EXPECT_EQ(session_->server_restarts(), 0);
}

TEST_F(ConversionMatrixSlow, SqlEdgeValuesIntoJsAndBack) {
  // Per type: id_<k>(x T) returns T (argument -> JS -> result), show_<k>(x T) returns text (what JS
  // sees), db_<k>(lit text) returns T (ctx.db row of "select $1::text::T" -> JS -> result).
  Matrix m(*session_, schema_);
  std::vector<std::string> changed;
  std::set<std::string> defined;
  std::ostringstream seen;
  for (size_t k = 0; k < kEdgeValues.size(); k++) {
    const std::string ty = replace_all(kEdgeValues[k].type, "@S@", schema_);
    std::string tag;
    for (char ch : kEdgeValues[k].type.substr(kEdgeValues[k].type.find('.') + 1))
      tag += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    if (defined.insert(tag).second) {
      fn(fmt::format("id_{}(x {}) returns {}", tag, ty, ty),
         "export default (ctx) => ctx.argv[0];");
      fn(fmt::format("show_{}(x {}) returns text", tag, ty),
         std::string(kShowJs) + "export default (ctx) => show(ctx.argv[0]);");
      fn(fmt::format("db_{}(lit text) returns {}", tag, ty),
         fmt::format("export default async (ctx) => (await ctx.db.query('select $1::text::{} as v', "
                     "[ctx.args.lit]))[0].v;",
                     ty));
    }
    Connection& c = session_->conn();
    const std::string lit = kEdgeValues[k].literal;
    std::string quoted;
    try {
      quoted = c.scalar("select quote_literal($1)", {lit});
    } catch (const std::exception& e) {
      ADD_FAILURE() << "quote " << lit << ": " << e.what();
      continue;
    }
    const std::string expected = c.scalar(fmt::format("select ({}::{})::text", quoted, ty));
    const std::string label = kEdgeValues[k].type + " " + lit;
    auto check_same = [&](const CellResult& r, const std::string& how) {
      if (r.verdict == "value" && r.failure.empty() && r.value != expected)
        changed.push_back(fmt::format("{} {}: {} -> {}", how, label, expected, r.value));
    };
    check_same(m.run("argument->result " + label,
                     fmt::format("select {}.id_{}({}::{})::text", schema_, tag, quoted, ty), ty),
               "argument->result");
    auto shown = m.run("argument seen by JS " + label,
                       fmt::format("select {}.show_{}({}::{})", schema_, tag, quoted, ty), "");
    seen << "  " << label << "  =>  JS sees "
         << (shown.verdict == "value" ? shown.value : shown.sqlstate + " " + shown.message)
         << "\n";
    check_same(m.run("ctx.db row->result " + label,
                     fmt::format("select {}.db_{}({})::text", schema_, tag, quoted), ty),
               "ctx.db row->result");
  }
  std::cout << fmt::format("conversion matrix (SQL edge values -> JS -> SQL): {} cells, {} "
                           "crashes, {} failures\n",
                           m.cells(), m.crashes(), m.failures().size())
            << m.report() << "what JS sees:\n"
            << seen.str() << "values changed on the way through JS (not counted as failures; "
            << "the ConversionSemantics tests check the ones the issue requires):\n";
  for (const auto& line : changed) std::cout << "  " << line << "\n";
  m.dump();
  EXPECT_EQ(m.crashes(), 0);
  EXPECT_EQ(m.failures().size(), 0u);
  EXPECT_EQ(session_->server_restarts(), 0);
}

// A seeded generator of nested JS values (xorshift32), pushed through jsonb, text[] and ctx.db
// parameters of several types. Deterministic: the same seeds give the same values every run.
const char* kRandomJs = R"JS(
function rng(seed) {
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}
function pick(r, a) { return a[Math.floor(r() * a.length)]; }
function str(r) {
  const n = Math.floor(r() * 10);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.5) s += String.fromCharCode(97 + Math.floor(r() * 26));
    else if (k < 0.58) s += '\u0000';
    else if (k < 0.66) s += String.fromCharCode(0xd800 + Math.floor(r() * 0x800));
    else if (k < 0.76) s += String.fromCodePoint(0x1f600 + Math.floor(r() * 64));
    else if (k < 0.86) s += pick(r, ['"', '\\', '\n', '{', '}', ',', ' ', "'"]);
    else s += String.fromCharCode(0x80 + Math.floor(r() * 0xd000));
  }
  return s;
}
function value(r, depth) {
  const k = Math.floor(r() * (depth >= 3 ? 10 : 15));
  switch (k) {
    case 0: return Math.floor(r() * 2000) - 1000;
    case 1: return (r() - 0.5) * 10 ** Math.floor(r() * 80 - 40);
    case 2: return pick(r, [NaN, Infinity, -Infinity, -0, 2 ** 53 + 1, 2 ** 31, 5e-324, 1e-50]);
    case 3: return BigInt(Math.floor(r() * 1e9)) ** BigInt(1 + Math.floor(r() * 4)) * (r() < 0.5 ? -1n : 1n);
    case 4: case 5: return str(r);
    case 6: return r() < 0.5 ? null : undefined;
    case 7: return r() < 0.5;
    case 8: return new Date(r() < 0.8 ? (r() - 0.5) * 1e13 : pick(r, [NaN, 8.64e15, -8.64e15, 1e16]));
    case 9: return pick(r, ['12', '-0.5', 'NaN', 'infinity', '', ' ', '1e999', '2024-01-01']);
    case 10: case 11: {
      const n = Math.floor(r() * 5), a = [];
      for (let i = 0; i < n; i++) a.push(value(r, depth + 1));
      if (r() < 0.1) a.length += 3;  // holes
      return a;
    }
    case 12: case 13: {
      const o = r() < 0.2 ? Object.create(null) : {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) o[str(r) || 'k' + i] = value(r, depth + 1);
      return o;
    }
    default: return pick(r, [new Uint8Array([1, 2]), new Map([[1, 2]]), new Set([1]),
                             Symbol('s'), () => 1, new Float32Array([0.5])]);
  }
}
)JS";

TEST_F(ConversionMatrixSlow, SeededRandomValues) {
  const std::vector<std::string> param_types = {"text",   "jsonb",       "int8",   "float8",
                                                "numeric", "timestamptz", "text[]", "jsonb[]",
                                                "int4[]", "bool"};
  fn("rj(seed int) returns jsonb",
     std::string(kRandomJs) + "export default (ctx) => value(rng(ctx.args.seed), 0);");
  fn("rt(seed int) returns text[]", std::string(kRandomJs) + R"JS(
    export default (ctx) => { const r = rng(ctx.args.seed); const n = 1 + Math.floor(r() * 4);
      const a = []; for (let i = 0; i < n; i++) a.push(value(r, 2)); return a; };)JS");
  fn("rp(seed int, t text) returns text", std::string(kRandomJs) + R"JS(
    export default async (ctx) => (await ctx.db.query('select ($1::' + ctx.args.t + ')::text as v',
      [value(rng(ctx.args.seed), ctx.args.t.endsWith('[]') ? 0 : 3)]))[0].v;)JS");
  Matrix m(*session_, schema_);
  // ~1 ms per cell here: 1500 seeds x 3 paths stays well under 30 s.
  const int kSeeds = 1500;
  const auto t0 = std::chrono::steady_clock::now();
  for (int seed = 0; seed < kSeeds; seed++) {
    m.run(fmt::format("random seed {} as jsonb", seed),
          fmt::format("select {}.rj({})::text", schema_, seed), "jsonb");
    m.run(fmt::format("random seed {} as text[]", seed),
          fmt::format("select {}.rt({})::text", schema_, seed), "text[]");
    const std::string& t = param_types[seed % param_types.size()];
    m.run(fmt::format("random seed {} as ctx.db param {}", seed, t),
          fmt::format("select {}.rp({}, '{}')", schema_, seed, t), t);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format(
                   "conversion matrix (seeded random values): {} cells, {} crashes, {} failures "
                   "({:.1f} s)\n",
                   m.cells(), m.crashes(), m.failures().size(), secs)
            << m.report(4);
  m.dump();
  EXPECT_EQ(m.crashes(), 0);
  EXPECT_EQ(m.failures().size(), 0u);
  EXPECT_EQ(session_->server_restarts(), 0);
}

// ---- exact semantics (issue 11) ---------------------------------------------------------------

using ConversionSemantics = ConversionFixture;

bool state_in(const Outcome& o, std::initializer_list<const char*> states) {
  if (o.kind != Outcome::Kind::kError) return false;
  for (const char* s : states)
    if (o.sqlstate == s) return true;
  return false;
}

TEST_F(ConversionSemantics, NonIntegralNumberIntoIntegerIs22P02Or22003) {
  for (const char* type : {"int2", "int4", "int8"}) {
    for (const char* v : {"1.5", "-0.5", "NaN", "Infinity", "-Infinity"}) {
      for (const char* dir : {"result", "array", "param", "param-array"}) {
        Outcome o = convert(dir, type, v);
        EXPECT_TRUE(state_in(o, {"22P02", "22003"}))
            << dir << " " << type << " <- " << v << ": " << describe(o);
      }
    }
  }
}

TEST_F(ConversionSemantics, HugeBigIntIntoFloat8KeepsItsMagnitude) {
  for (const char* dir : {"result", "array", "param", "param-array"}) {
    Outcome o = convert(dir, "float8", "2n ** 64n + 5n");
    if (o.kind == Outcome::Kind::kError) {
      EXPECT_EQ(o.sqlstate, "22003") << dir << ": " << describe(o);
      continue;
    }
    ASSERT_TRUE(o.ok()) << dir << ": " << describe(o);
    std::string text = o.value().value_or("NULL");
    if (!text.empty() && text.front() == '{') text = text.substr(1, text.size() - 2);
    double got = std::strtod(text.c_str(), nullptr);
    EXPECT_NEAR(got, 18446744073709551621.0, 1e5) << dir << ": 2n**64n+5n came back as " << text;
  }
}

TEST_F(ConversionSemantics, NulCharacterIntoTextOrJsonbIsRejected) {
  // (json keeps its input text, where "\u0000" is a valid escape: not checked here.)
  for (const char* type : {"text", "varchar", "jsonb"}) {
    for (const char* dir : {"result", "array", "param"}) {
      Outcome o = convert(dir, type, "'a\\u0000b'");
      EXPECT_TRUE(state_in(o, {"22P05", "22021"})) << dir << " " << type << ": " << describe(o);
    }
  }
  Outcome o = convert("jsonb-member", "jsonb", "'a\\u0000b'");
  EXPECT_TRUE(state_in(o, {"22P05", "22021"})) << "jsonb member: " << describe(o);
  // In an object key: truncating "p\0" to "p" after sorting leaves the keys out of order, and
  // jsonb lookups (->, @>, =) then miss them.
  for (const char* dir : {"result", "param"}) {
    o = convert(dir, "jsonb", "({ 'p\\u0000': 1, k0: 2 })");
    EXPECT_TRUE(state_in(o, {"22P05", "22021"})) << dir << " jsonb key: " << describe(o);
  }
}

TEST_F(ConversionSemantics, DateOutsidePostgresRangeIs22008) {
  for (const char* type : {"timestamp", "timestamptz", "date"}) {
    for (const char* dir : {"result", "array", "param"}) {
      Outcome o = convert(dir, type, "new Date(-8.64e15)");
      EXPECT_TRUE(state_in(o, {"22008"})) << dir << " " << type << ": " << describe(o);
    }
  }
}

TEST_F(ConversionSemantics, EpochMillis1e16IntoTimestampIs22008) {
  for (const char* type : {"timestamp", "timestamptz"}) {
    for (const char* dir : {"result", "array", "param"}) {
      Outcome o = convert(dir, type, "1e16");
      EXPECT_TRUE(state_in(o, {"22008"})) << dir << " " << type << ": " << describe(o);
    }
  }
}

TEST_F(ConversionSemantics, Float4UnderflowAndOverflowAre22003) {
  for (const char* v : {"1e-50", "-1e-50", "1e50"}) {
    for (const char* dir : {"result", "array", "param"}) {
      Outcome o = convert(dir, "float4", v);
      EXPECT_TRUE(state_in(o, {"22003"})) << dir << " float4 <- " << v << ": " << describe(o);
    }
  }
}

TEST_F(ConversionSemantics, JsonbBigNumbersReachJsWithoutSilentPrecisionLoss) {
  fn("jb_id(x jsonb) returns jsonb", "export default (ctx) => ctx.args.x;");
  fn("jb_text(x jsonb) returns text",
     "export default (ctx) => { const v = ctx.args.x; return typeof v === 'object' && v !== null "
     "? String(v.n) : String(v); };");
  fn("jb_db(lit text) returns jsonb",
     "export default async (ctx) => (await ctx.db.query('select $1::text::jsonb as v', "
     "[ctx.args.lit]))[0].v;");
  for (const std::string& digits : {std::string("12345678901234567890"), std::string("9007199254740993")}) {
    for (const std::string& lit : {digits, "{\"n\": " + digits + "}"}) {
      Outcome o = session_->run(fmt::format("select {}.jb_id($1::jsonb)::text", schema_), {lit});
      if (!state_in(o, {"22003"})) {
        ASSERT_TRUE(o.ok()) << lit << ": " << describe(o);
        EXPECT_EQ(o.value(), std::optional<std::string>(lit))
            << "jsonb argument -> JS -> jsonb lost precision";
      }
      o = session_->run(fmt::format("select {}.jb_text($1::jsonb)", schema_), {lit});
      if (!state_in(o, {"22003"})) {
        ASSERT_TRUE(o.ok()) << lit << ": " << describe(o);
        EXPECT_EQ(o.value(), std::optional<std::string>(digits))
            << "JS saw the jsonb number " << lit << " as " << o.value().value_or("NULL");
      }
      o = session_->run(fmt::format("select {}.jb_db($1)::text", schema_), {lit});
      if (!state_in(o, {"22003"})) {
        ASSERT_TRUE(o.ok()) << lit << ": " << describe(o);
        EXPECT_EQ(o.value(), std::optional<std::string>(lit))
            << "jsonb from ctx.db -> JS -> jsonb lost precision";
      }
    }
  }
}

TEST_F(ConversionSemantics, InfinityTimestampsRoundTrip) {
  for (const char* type : {"timestamp", "timestamptz", "date"}) {
    fn(fmt::format("inf_id_{0}(x {0}) returns {0}", type), "export default (ctx) => ctx.argv[0];");
    fn(fmt::format("inf_db_{0}(lit text) returns {0}", type),
       fmt::format("export default async (ctx) => (await ctx.db.query('select $1::text::{} as v', "
                   "[ctx.args.lit]))[0].v;",
                   type));
    for (const char* lit : {"infinity", "-infinity"}) {
      Outcome o =
          session_->run(fmt::format("select {}.inf_id_{}('{}')::text", schema_, type, lit));
      EXPECT_EQ(describe(o), std::string("value ") + lit) << "argument -> JS -> " << type;
      o = session_->run(fmt::format("select {}.inf_db_{}('{}')::text", schema_, type, lit));
      EXPECT_EQ(describe(o), std::string("value ") + lit) << "ctx.db row -> JS -> " << type;
    }
  }
}

// JavaScript arrays start at 0: a lower bound other than 1 is not kept (docs/RUNTIME.md), the
// elements are (a one-dimensional array comes back with lower bound 1; a two-dimensional one
// reaches JS as nested arrays and is refused on the way back, 0A000).
TEST_F(ConversionSemantics, ArrayLowerBoundsAreDroppedAsDocumented) {
  fn("arr_id(x int4[]) returns int4[]", "export default (ctx) => ctx.argv[0];");
  fn("arr_db(lit text) returns int4[]",
     "export default async (ctx) => (await ctx.db.query('select $1::text::int4[] as v', "
     "[ctx.args.lit]))[0].v;");
  for (const char* how : {"arr_id($1::int4[])", "arr_db($1)"}) {
    Outcome o = session_->run(fmt::format("select {}.{}::text", schema_, how), {"[3:4]={1,2}"});
    EXPECT_EQ(describe(o), "value {1,2}") << how;
    o = session_->run(fmt::format("select {}.{}::text", schema_, how),
                      {"[0:1][5:6]={{1,2},{3,4}}"});
    EXPECT_EQ(o.sqlstate, "0A000") << how << ": " << describe(o);
  }
}

}  // namespace
