#include "extensions/plts/source_map.h"

#include <climits>

#include <gtest/gtest.h>

using plts::SourceMap;

// TypeScript 5.9's map for `export default (x: number) => x + 1;` -> `export default (x) => x + 1;`
constexpr char kMap[] =
    R"({"version":3,"file":"function.js","sourceRoot":"","sources":["function.ts"],"names":[],)"
    R"("mappings":"AAAA,eAAe,CAAC,CAAS,EAAE,EAAE,CAAC,CAAC,GAAG,CAAC,CAAC"})";

TEST(SourceMap, MapsColumnsPastErasedTypes) {
  SourceMap m(kMap);
  int line = 0, col = 0;
  // `x + 1` starts at JS column 23 and TS column 31 (": number" was erased).
  ASSERT_TRUE(m.lookup(1, 23, &line, &col));
  EXPECT_EQ(line, 1);
  EXPECT_EQ(col, 31);
  // `export` maps to itself.
  ASSERT_TRUE(m.lookup(1, 1, &line, &col));
  EXPECT_EQ(col, 1);
}

TEST(SourceMap, MultiLineMappingsAccumulateAcrossLines) {
  // Two generated lines; the second maps to source line 4 (deltas carry over lines).
  SourceMap m(R"({"version":3,"mappings":"AAAA;AAGA,IAAI"})");
  int line = 0, col = 0;
  ASSERT_TRUE(m.lookup(2, 1, &line, &col));
  EXPECT_EQ(line, 4);
  EXPECT_EQ(col, 1);
  ASSERT_TRUE(m.lookup(2, 6, &line, &col));
  EXPECT_EQ(line, 4);
  EXPECT_EQ(col, 5);
}

TEST(SourceMap, UnmappedAndMalformedInputsAreRefused) {
  int line = 0, col = 0;
  SourceMap m(kMap);
  EXPECT_FALSE(m.lookup(2, 1, &line, &col));
  EXPECT_FALSE(m.lookup(0, 1, &line, &col));
  SourceMap not_json("not json");
  EXPECT_FALSE(not_json.lookup(1, 1, &line, &col));
  SourceMap bad_vlq(R"({"mappings":"A!AA"})");
  EXPECT_FALSE(bad_vlq.lookup(1, 1, &line, &col));
  SourceMap truncated_vlq(R"({"mappings":"AAAg"})");
  EXPECT_FALSE(truncated_vlq.lookup(1, 1, &line, &col));
}

TEST(SourceMap, HostileMappingsAreMalformedNotOverflowed) {
  int line = 0, col = 0;
  // A VLQ value wider than 32 bits (a shift past the int: UB before), a position that goes
  // negative (it mapped to column 0), and a delta that would overflow the running sum.
  SourceMap wide(R"({"mappings":"gggggggggggggggggA"})");
  EXPECT_FALSE(wide.lookup(1, 1, &line, &col));
  SourceMap negative(R"({"mappings":"AAAD,DADD"})");
  EXPECT_FALSE(negative.lookup(1, 1, &line, &col));
  SourceMap overflow(R"({"mappings":"+/////DAAA,+/////DAAA"})");
  EXPECT_FALSE(overflow.lookup(1, 1, &line, &col));
  // Any column is a valid query (INT_MIN - 1 overflowed before).
  SourceMap m(kMap);
  ASSERT_TRUE(m.lookup(1, INT_MIN, &line, &col));
  EXPECT_EQ(col, 1);
}
