// Conversion matrix (issue 11, "make the class impossible"): every supported SQL type crossed with
// a catalog of hostile and ordinary JavaScript values in every direction (function result, array
// element, ctx.db parameter, ctx.db array parameter, jsonb/json member), every SQL edge value into
// JavaScript (argument, ctx.db row) and back, and a seeded random generator of nested values.
//
// Each cell runs as its own statement and is judged as test/pg/conversion_cells.h says. Each test
// prints
//   conversion matrix (...): N cells, K crashes, F failures
// and the failing cells grouped by cause (PLTS_MATRIX_EXAMPLES=n lists n cells per group;
// PLTS_MATRIX_DUMP=<file> appends every cell's outcome). The exact semantics the issue requires
// are in conversion_semantics_test.cpp.
//
// Each test works in its own schema (cm_<pid>_<n>), dropped at the end; settings are SET per
// session only. These tests take a while: they are named *Slow* (ctest label "slow"; exclude with
// --gtest_filter=-*Slow* or ctest -LE slow).
#include <chrono>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/conversion_cells.h"

namespace {

using namespace convtest;

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
    {"@S@.comp", "(1,x)"},
    {"@S@.comp", "(,)"},
    {"@S@.comp", "(-2147483648,\"a,b\\\"c\")"},
    {"@S@.comp[]", "{\"(1,x)\",NULL,\"(,)\"}"},
    {"@S@.nested", "(\"(1,x)\",\"{\"\"(2,y)\"\",NULL}\",\"{\"\"k\"\": [1, null]}\")"},
    {"@S@.nested", "(,,)"},
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
    fn(fmt::format("s_{}(i int) returns setof {}", t.tag, ty),
       prelude + "export default function* (ctx) { yield CAT[ctx.args.i](); }");
    fn(fmt::format("q_{}(i int) returns text", t.tag),
       prelude + fmt::format("export default async (ctx) => (await ctx.db.query('select "
                             "($1::{}[])::text as v', [[CAT[ctx.args.i]()]]))[0].v;",
                             ty));
  }
  fn("jm(i int) returns jsonb", prelude + "export default (ctx) => ({ v: CAT[ctx.args.i]() });");
  fn("jsm(i int) returns json", prelude + "export default (ctx) => ({ v: CAT[ctx.args.i]() });");
  fn("jpm(i int) returns text",
     prelude +
         "export default async (ctx) => (await ctx.db.query('select ($1::jsonb)::text as v', "
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
      m.run(fmt::format("set row {} <- {}", t.tag, v),
            fmt::format("select {}.s_{}({})::text", schema_, t.tag, i), ty);
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
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format(
                   "conversion matrix (JS -> SQL): {} cells, {} crashes, {} failures "
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
         fmt::format(
             "export default async (ctx) => (await ctx.db.query('select $1::text::{} as v', "
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
         << (shown.verdict == "value" ? shown.value : shown.sqlstate + " " + shown.message) << "\n";
    check_same(m.run("ctx.db row->result " + label,
                     fmt::format("select {}.db_{}({})::text", schema_, tag, quoted), ty),
               "ctx.db row->result");
  }
  std::cout << fmt::format(
                   "conversion matrix (SQL edge values -> JS -> SQL): {} cells, {} "
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
  const std::vector<std::string> param_types = {"text",    "jsonb",       "int8",   "float8",
                                                "numeric", "timestamptz", "text[]", "jsonb[]",
                                                "int4[]",  "bool"};
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
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

}  // namespace
