// The V8-free text pieces of console's formatting.
#include "extensions/plts/inspect_text.h"

#include <gtest/gtest.h>

namespace plts {
namespace {

TEST(InspectText, Quotes) {
  EXPECT_EQ(js_quote("abc"), "'abc'");
  EXPECT_EQ(js_quote("it's"), "\"it's\"");
  EXPECT_EQ(js_quote("say \"hi\" it's"), "'say \"hi\" it\\'s'");
  EXPECT_EQ(js_quote("a\nb\t\\"), "'a\\nb\\t\\\\'");
  EXPECT_EQ(js_quote(std::string("\x01\x7f", 2)), "'\\x01\\x7F'");
  EXPECT_EQ(js_quote("é ✓"), "'é ✓'");
}

TEST(InspectText, Identifiers) {
  EXPECT_TRUE(is_js_identifier("a_b$1"));
  EXPECT_FALSE(is_js_identifier("1a"));
  EXPECT_FALSE(is_js_identifier("a-b"));
  EXPECT_FALSE(is_js_identifier(""));
}

TEST(InspectText, Dates) {
  EXPECT_EQ(iso_date_text(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso_date_text(1709209800000.0), "2024-02-29T12:30:00.000Z");
  EXPECT_EQ(iso_date_text(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(iso_date_text(-62198755200000.0), "-000001-01-01T00:00:00.000Z");
  EXPECT_EQ(iso_date_text(253402300800000.0), "+010000-01-01T00:00:00.000Z");
  EXPECT_EQ(iso_date_text(8.64e15), "+275760-09-13T00:00:00.000Z");
  EXPECT_EQ(iso_date_text(8.64e15 + 1), "Invalid Date");
  EXPECT_EQ(iso_date_text(0.0 / 0.0), "Invalid Date");
}

TEST(InspectText, Layout) {
  EXPECT_EQ(layout_list("", {}, true, 0), "[]");
  EXPECT_EQ(layout_list("Map(0)", {}, false, 0), "Map(0) {}");
  EXPECT_EQ(layout_list("", {"1", "2"}, true, 0), "[ 1, 2 ]");
  EXPECT_EQ(layout_list("Point", {"x: 1"}, false, 1), "Point { x: 1 }");
  std::vector<std::string> long_parts = {"a: '" + std::string(40, 'x') + "'",
                                         "b: '" + std::string(40, 'y') + "'"};
  EXPECT_EQ(layout_list("", long_parts, false, 1),
            "{\n    " + long_parts[0] + ",\n    " + long_parts[1] + "\n  }");
  std::vector<std::string> nums;
  for (int i = 0; i < 30; i++) nums.push_back(std::to_string(i * 100));
  std::string packed = layout_list("", nums, true, 0);
  EXPECT_EQ(packed.substr(0, 8), "[\n  0, 1");
  EXPECT_EQ(packed.substr(packed.size() - 7), " 2900\n]");
  for (size_t at = 0, nl; (nl = packed.find('\n', at)) != std::string::npos; at = nl + 1)
    EXPECT_LE(nl - at, 76u);
}

TEST(InspectText, CutsAtCharacterBoundaries) {
  std::string s = "aé✓";  // 1 + 2 + 3 bytes
  std::string t = s;
  cut_utf8(t, 2);
  EXPECT_EQ(t, "a");
  t = s;
  cut_utf8(t, 3);
  EXPECT_EQ(t, "aé");
  t = s;
  cut_utf8(t, 5);
  EXPECT_EQ(t, "aé");
  t = s;
  cut_utf8(t, 6);
  EXPECT_EQ(t, s);
}

}  // namespace
}  // namespace plts
