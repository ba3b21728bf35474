// The parsers of untrusted text in extensions/plts/parse (fuzzed in test/fuzz): the cases the
// fuzzers found, kept as unit tests.
#include <gtest/gtest.h>

#include "extensions/plts/parse/base64.h"
#include "extensions/plts/parse/data_url.h"
#include "extensions/plts/parse/import_map.h"
#include "extensions/plts/parse/parse_error.h"
#include "extensions/plts/parse/pointer_stub.h"

using plts::ParseError;

namespace {

const std::string kHash = "sha256:" + std::string(64, 'a');

std::string stub_error(const std::string& prosrc) {
  try {
    plts::pointer_stub_of(prosrc, "public.f");
  } catch (const ParseError& e) {
    return e.message();
  }
  return "";
}

std::string stub_with(const std::string& fields) {
  return R"({"plts":1,"kind":"artifact_ptr","artifact_hash":")" + kHash + "\"" + fields + "}";
}

}  // namespace

TEST(PointerStub, ParsesFieldsAndDefaults) {
  auto s =
      plts::pointer_stub_of("  " + stub_with(R"(,"import_map":{"a":"@stopgap/runtime"})"), "f");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->artifact_hash, kHash);
  EXPECT_EQ(s->export_name, "default");
  EXPECT_EQ(s->import_map, nlohmann::json({{"a", "@stopgap/runtime"}}));
  EXPECT_FALSE(plts::pointer_stub_of("export default () => 1;", "f").has_value());
  EXPECT_FALSE(plts::pointer_stub_of(R"({"not":"a stub"})", "f").has_value());
}

TEST(PointerStub, WrongJsonTypesNameTheField) {
  // "kind": 7 once escaped as nlohmann's type_error (XX000).
  EXPECT_EQ(stub_error(R"({"plts":1,"kind":7,"artifact_hash":")" + kHash + "\"}"),
            "malformed plts pointer stub in public.f: \"kind\" must be \"artifact_ptr\"");
  EXPECT_EQ(stub_error(R"({"plts":1,"kind":"artifact_ptr","artifact_hash":42})"),
            "malformed plts pointer stub in public.f: \"artifact_hash\" must be sha256:<64 hex "
            "digits>");
  EXPECT_EQ(stub_error(stub_with(R"(,"export":["default"])")),
            "malformed plts pointer stub in public.f: \"export\" must be a name");
  EXPECT_EQ(stub_error(stub_with(R"(,"import_map":[])")),
            "malformed plts pointer stub in public.f: \"import_map\" must be an object");
  EXPECT_EQ(stub_error(stub_with(R"(,"import_map":{"a":1})")),
            "malformed plts pointer stub in public.f: import_map entry \"a\" must map to a string");
  EXPECT_EQ(stub_error(R"({"plts":"1"})"),
            "malformed plts pointer stub in public.f: unsupported \"plts\" version");
}

TEST(PointerStub, NulCharactersAreRefused) {
  EXPECT_EQ(stub_error(stub_with(R"(,"export":"de\u0000fault")")),
            "malformed plts pointer stub in public.f: \"export\" must be a name");
  EXPECT_EQ(stub_error(stub_with(R"(,"import_map":{"a\u0000b":"x"})")),
            "malformed plts pointer stub in public.f: an import_map name contains a NUL character");
  EXPECT_EQ(stub_error(stub_with(R"(,"import_map":{"a":"x\u0000"})")),
            "malformed plts pointer stub in public.f: import_map entry \"a\" maps to a string "
            "with a NUL character");
}

TEST(ImportMapComment, ParsesAndRefuses) {
  EXPECT_EQ(plts::import_map_comment("export {};", "f"), nlohmann::json::object());
  EXPECT_EQ(plts::import_map_comment("// plts-import-map: {\"a\": \"b\"}\nexport {};", "f"),
            nlohmann::json({{"a", "b"}}));
  EXPECT_THROW(plts::import_map_comment("// plts-import-map: {\"a\": 1}\n", "f"), ParseError);
  EXPECT_THROW(plts::import_map_comment("// plts-import-map: [1]\n", "f"), ParseError);
  EXPECT_THROW(plts::import_map_comment("// plts-import-map: {\"a\\u0000\": \"b\"}\n", "f"),
               ParseError);
  EXPECT_THROW(plts::import_map_comment("// plts-import-map: {\"a\": \"b\\u0000\"}\n", "f"),
               ParseError);
  try {
    plts::import_map_comment("// plts-import-map: {\n", "public.f");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("malformed plts-import-map comment in public.f: ", 0),
              0u);
  }
}

TEST(DataUrl, DecodesAndRefuses) {
  EXPECT_EQ(plts::data_url_code("data:text/javascript,export%20default%201%3B"),
            "export default 1;");
  EXPECT_EQ(plts::data_url_code("data:;base64,ZXhwb3J0IHt9"), "export {}");
  EXPECT_EQ(plts::data_url_code("data:,100%"), "100%");
  EXPECT_THROW(plts::data_url_code("data:text/javascript"), ParseError);
  EXPECT_THROW(plts::data_url_code("data:application/json,{}"), ParseError);
  EXPECT_THROW(plts::data_url_code("data:;base64,ab$d"), ParseError);
  EXPECT_THROW(plts::data_url_code(std::string("data:text/java\0script,1", 23)), ParseError);
}

TEST(Base64, DecodesLongInputWithoutOverflow) {
  // Every input longer than five digits once shifted a signed int past its width.
  std::string encoded, expected;
  for (int i = 0; i < 100; i++) {
    encoded += "/+7t";
    expected += "\xff\xee\xed";
  }
  EXPECT_EQ(plts::base64_decode(encoded), expected);
  EXPECT_EQ(plts::base64_decode("_-7t"), "\xff\xee\xed");  // the URL alphabet
  EXPECT_EQ(plts::base64_decode("YWI="), "ab");
  EXPECT_EQ(plts::base64_decode("YWI"), "ab");
  EXPECT_EQ(plts::base64_decode("QQ==QUFB"), "A");  // stops at the first '='
  EXPECT_FALSE(plts::base64_decode("QUJD!").has_value());
}
