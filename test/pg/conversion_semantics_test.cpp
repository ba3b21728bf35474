// Exact conversion semantics that issue 11 requires, one TEST() each so that failures read as a
// to-do list: non-integral numbers into integers, huge BigInts into float8, U+0000 into text and
// jsonb, dates outside PostgreSQL's range, epoch milliseconds out of range, float4 underflow, big
// jsonb numbers into JS, infinite timestamps, array lower bounds. Each cell runs under the hang
// guard of test/pg/guarded_session.h; the fixture (own schema cm_<pid>_<n>) is in
// conversion_cells.h.
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/conversion_cells.h"

namespace {

using namespace convtest;

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

TEST_F(ConversionSemantics, HugeBigIntIntoFloatKeepsItsMagnitude) {
  // A BigInt beyond int64 must come back as the nearest float (or 22003 when it does not fit
  // float4), never wrapped modulo 2^64 (2n**64n+5n -> 5, 2n**63n -> -9.2e18, -(2n**200n) -> 0).
  struct Big {
    const char* expr;
    double value;
  };
  const Big bigs[] = {{"2n ** 64n + 5n", 18446744073709551621.0},
                      {"2n ** 63n", 9223372036854775808.0},
                      {"-(2n ** 200n)", -1.6069380442589903e60}};
  for (const char* type : {"float8", "float4"}) {
    for (const Big& big : bigs) {
      for (const char* dir : {"result", "array", "param", "param-array"}) {
        Outcome o = convert(dir, type, big.expr);
        if (o.kind == Outcome::Kind::kError) {
          EXPECT_EQ(o.sqlstate, "22003")
              << dir << " " << type << " <- " << big.expr << ": " << describe(o);
          continue;
        }
        ASSERT_TRUE(o.ok()) << dir << ": " << describe(o);
        std::string text = o.value().value_or("NULL");
        if (!text.empty() && text.front() == '{') text = text.substr(1, text.size() - 2);
        const double got = std::strtod(text.c_str(), nullptr);
        EXPECT_NEAR(got / big.value, 1.0, 1e-6)
            << dir << " " << type << " <- " << big.expr << " came back as " << text;
      }
    }
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
  // In objects: as a member and as a key, without and with a BigInt beside it (an object holding a
  // BigInt is converted by another path). Truncating the key "p\0" to "p" after sorting leaves the
  // keys out of order, and jsonb lookups (->, @>, =) then miss them.
  for (const char* expr : {"({ v: 'a\\u0000b' })", "({ v: 'a\\u0000b', b: 1n })",
                           "({ 'p\\u0000': 1, k0: 2 })", "({ 'p\\u0000': 1, k0: 2n })"}) {
    for (const char* dir : {"result", "param"}) {
      Outcome o = convert(dir, "jsonb", expr);
      EXPECT_TRUE(state_in(o, {"22P05", "22021"}))
          << dir << " jsonb <- " << expr << ": " << describe(o);
    }
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
  for (const std::string& digits :
       {std::string("12345678901234567890"), std::string("9007199254740993")}) {
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
      Outcome o = session_->run(fmt::format("select {}.inf_id_{}('{}')::text", schema_, type, lit));
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
