// The pure part of stopgap's deploy engine (extensions/stopgap/plan_logic.cpp), without a server.
#include <gtest/gtest.h>

#include "extensions/stopgap/plan_logic.h"

namespace stopgap {
namespace {

TEST(StopgapPlan, DeployedImportsAreThoseOfTheSchemaOthersAreForeign) {
  std::vector<std::string> foreign;
  auto refs = deployed_imports({"@stopgap/app/b", "@stopgap/runtime", "@stopgap/app/a", "@stopgap/app/b",
                                "@stopgap/other/x", "lodash", "@stopgap/app", "@stopgap/apps/y"},
                               "@stopgap/app/", &foreign);
  EXPECT_EQ(refs, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(foreign, (std::vector<std::string>{"@stopgap/app", "@stopgap/apps/y", "@stopgap/other/x"}));
  // Names keep any character the catalog allows (the prefix is matched exactly, case included).
  refs = deployed_imports({"@stopgap/My App/f x\"y", "@stopgap/my app/g"}, "@stopgap/My App/", &foreign);
  EXPECT_EQ(refs, (std::vector<std::string>{"f x\"y"}));
  EXPECT_EQ(foreign, (std::vector<std::string>{"@stopgap/my app/g"}));
}

TEST(StopgapPlan, DependencyOrderPutsImportsFirstAndTiesByName) {
  std::vector<std::string> cyclic;
  auto order = dependency_order({{"c", {}}, {"b", {"c"}}, {"a", {"b", "c"}}, {"d", {}}}, &cyclic);
  EXPECT_EQ(order, (std::vector<std::string>{"c", "d", "b", "a"}));
  EXPECT_TRUE(cyclic.empty());
  order = dependency_order({{"a", {"b"}}, {"b", {"a"}}, {"c", {}}, {"d", {"a"}}}, &cyclic);
  EXPECT_EQ(order, (std::vector<std::string>{"c"}));
  EXPECT_EQ(cyclic, (std::vector<std::string>{"a", "b", "d"}));  // d waits behind the cycle
  order = dependency_order({{"self", {"self"}}}, &cyclic);
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(cyclic, (std::vector<std::string>{"self"}));
}

TEST(StopgapPlan, DependencyOrderOfAChainOfAThousand) {
  std::map<std::string, std::vector<std::string>> g;
  for (int i = 0; i < 1000; i++) g["f" + std::to_string(i)] = i ? std::vector<std::string>{"f" + std::to_string(i - 1)}
                                                                : std::vector<std::string>{};
  std::vector<std::string> cyclic;
  auto order = dependency_order(g, &cyclic);
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; i++) EXPECT_EQ(order[i], "f" + std::to_string(i));
}

TEST(StopgapPlan, JsonbTextOrdersKeysAsJsonbDoes) {
  // Shorter keys first, then bytes; escapes as PostgreSQL's escape_json.
  EXPECT_EQ(jsonb_text({{"bb", "1"}, {"a", "2"}, {"ab", "3"}}), "{\"a\": \"2\", \"ab\": \"3\", \"bb\": \"1\"}");
  EXPECT_EQ(jsonb_text({}), "{}");
  EXPECT_EQ(jsonb_text({{"q\"\\\n\x01", "é"}}), "{\"q\\\"\\\\\\n\\u0001\": \"é\"}");
  EXPECT_EQ(jsonb_text({{"Z", "1"}, {"a", "1"}}), "{\"Z\": \"1\", \"a\": \"1\"}");
}

TEST(StopgapPlan, BakeImportMapAppendsAndMergesTheSourcesOwnMap) {
  EXPECT_EQ(bake_import_map("export default 1;\n", {}, "s.f"), "export default 1;\n");
  EXPECT_EQ(bake_import_map("export default 1;", {{"@stopgap/s/g", "plts+artifact:sha256:ab"}}, "s.f"),
            "export default 1;\n// plts-import-map: {\"@stopgap/s/g\": \"plts+artifact:sha256:ab\"}\n");
  // The source's own map is merged (ours win) and its line disarmed; lines above keep their numbers.
  std::string own = "  // plts-import-map: {\"lib\": \"data:x\", \"@stopgap/s/g\": \"old\"}\nexport default 1;";
  std::string baked = bake_import_map(own, {{"@stopgap/s/g", "new"}}, "s.f");
  EXPECT_EQ(baked,
            "  // plts-import-map (merged into the one at the end by stopgap): {\"lib\": \"data:x\", "
            "\"@stopgap/s/g\": \"old\"}\nexport default 1;\n// plts-import-map: {\"lib\": \"data:x\", "
            "\"@stopgap/s/g\": \"new\"}\n");
  // A marker anywhere is the map plts's loader reads first: merged, and disarmed wherever it stands
  // (found by the fuzzer: a map after code on its line was read instead of stopgap's).
  EXPECT_EQ(bake_import_map("export default () => lib; // plts-import-map: {\"lib\": \"data:x\"}",
                            {{"k", "v"}}, "s.f"),
            "export default () => lib; // plts-import-map (merged into the one at the end by stopgap): "
            "{\"lib\": \"data:x\"}\n// plts-import-map: {\"k\": \"v\", \"lib\": \"data:x\"}\n");
}

TEST(StopgapPlan, BakeImportMapRefusesAMalformedOwnMap) {
  using namespace std::string_literals;
  for (const std::string& bad :
       {"// plts-import-map: {"s, "// plts-import-map: [1]"s, "// plts-import-map: {\"a\": 1}"s,
        "\t// plts-import-map:"s, "const s = '// plts-import-map: {';"s,
        "// plts-import-map: {\"a\\u0000b\": \"x\"}"s, "// plts-import-map: {\"a\": \"x\\u0000\"}"s}) {
    try {
      bake_import_map(bad + "\nexport default 1;", {{"k", "v"}}, "s.f");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Problem& p) {
      EXPECT_EQ(p.sqlstate, "22023") << bad;
      EXPECT_NE(p.message.find("s.f"), std::string::npos) << p.message;
      EXPECT_EQ(p.message.find('\0'), std::string::npos) << bad;  // ereport would cut it short
    }
  }
}

TEST(StopgapPlan, OwnImportMapNamesAndUnresolvableImports) {
  auto own = own_import_map_names("// plts-import-map: {\"lib\": \"plts+artifact:sha256:00\"}\nimport x from 'lib';");
  EXPECT_EQ(own, (std::set<std::string>{"lib"}));
  EXPECT_TRUE(own_import_map_names("export default 1;").empty());
  const std::string msg = "Cannot find module 'lib' or its corresponding type declarations.";
  EXPECT_TRUE(unresolvable_import_diagnostic(2307, msg, own));
  EXPECT_FALSE(unresolvable_import_diagnostic(2307, msg, {}));
  EXPECT_FALSE(unresolvable_import_diagnostic(2322, msg, own));
  EXPECT_TRUE(unresolvable_import_diagnostic(2307, "Cannot find module 'data:text/javascript,1'.", {}));
  EXPECT_TRUE(unresolvable_import_diagnostic(2307, "Cannot find module 'plts+artifact:sha256:00'.", {}));
  EXPECT_FALSE(unresolvable_import_diagnostic(2307, "Cannot find module '@stopgap/s/gone'.", {}));
  EXPECT_FALSE(unresolvable_import_diagnostic(2307, "no quotes", own));
}

TEST(StopgapPlan, PointerStubIsTheOneLoaderFormat) {
  EXPECT_EQ(pointer_stub("sha256:00", {}),
            "{\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":\"sha256:00\",\"export\":\"default\","
            "\"import_map\":{}}");
  EXPECT_EQ(pointer_stub("sha256:00", {{"@stopgap/s/g", "plts+artifact:sha256:11"}}),
            "{\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":\"sha256:00\",\"export\":\"default\","
            "\"import_map\":{\"@stopgap/s/g\": \"plts+artifact:sha256:11\"}}");
}

TEST(StopgapPlan, DefinitionClausesSitBetweenHeadAndBody) {
  std::string head = definition_head("FUNCTION", "s.f", "a integer DEFAULT '\n'::text");
  EXPECT_EQ(head, "CREATE OR REPLACE FUNCTION s.f(a integer DEFAULT '\n'::text)\n");
  std::string def = head + " RETURNS integer\n LANGUAGE plts\n STRICT\nAS $function$x\nAS y$function$\n";
  EXPECT_EQ(definition_clauses(def, head, "x\nAS y"), std::optional<std::string>(" RETURNS integer\n LANGUAGE plts\n STRICT"));
  // A SET value holding "\nAS " does not end the clauses: the body is found from the end.
  std::string set = " LANGUAGE plts\n SET search_path TO 'a\nAS b'";
  EXPECT_EQ(definition_clauses(head + set + "\nAS $function$x$function$\n", head, "x"), std::optional<std::string>(set));
  EXPECT_EQ(definition_clauses("CREATE OR REPLACE PROCEDURE s.f()\nAS $p$ $p$", head, " "), std::nullopt);
  EXPECT_EQ(definition_clauses(head + " RETURNS int", head, ""), std::nullopt);
  EXPECT_EQ(definition_clauses(def, head, "another body"), std::nullopt);
}

FnShape shape(const std::string& name, const std::string& hash) {
  FnShape s;
  s.fn_name = name;
  s.routine = "function";
  s.identity_types = "jsonb";
  s.arguments = "args jsonb";
  s.result = "jsonb";
  s.clauses = " RETURNS jsonb\n LANGUAGE plts";
  s.artifact_hash = hash;
  s.source_sha256 = "src-" + hash;
  return s;
}

TEST(StopgapPlan, ChangeReasons) {
  FnShape a = shape("f", "h1"), b = a;
  EXPECT_TRUE(change_reasons(a, b).empty());
  b.source_sha256 = "other";
  EXPECT_EQ(change_reasons(a, b), (std::vector<std::string>{"body"}));
  b = a;
  b.import_map = {{"@stopgap/s/g", "x"}};
  b.artifact_hash = "h2";
  EXPECT_EQ(change_reasons(a, b), (std::vector<std::string>{"imports"}));
  b = a;
  b.result = "text";
  b.clauses = "other";
  EXPECT_EQ(change_reasons(a, b), (std::vector<std::string>{"signature"}));  // attributes are implied
  b = a;
  b.clauses = " RETURNS jsonb\n LANGUAGE plts\n STRICT";
  EXPECT_EQ(change_reasons(a, b), (std::vector<std::string>{"attributes"}));
  b = a;
  b.artifact_hash = "h2";  // same source, another compiler
  EXPECT_EQ(change_reasons(a, b), (std::vector<std::string>{"compiler"}));
}

TEST(StopgapPlan, SameDeploymentNeedsTheSameFunctionsShapesAndComments) {
  std::vector<FnShape> active = {shape("f", "h1"), shape("g", "h2")};
  std::vector<FnShape> planned = {shape("g", "h2"), shape("f", "h1")};
  EXPECT_TRUE(same_deployment(planned, active));
  planned[0].comment = "new comment";
  EXPECT_FALSE(same_deployment(planned, active));
  planned = {shape("f", "h1")};
  EXPECT_FALSE(same_deployment(planned, active));  // g removed
  planned = {shape("f", "h1"), shape("h", "h2")};
  EXPECT_FALSE(same_deployment(planned, active));  // renamed
  planned = {shape("f", "h1"), shape("g", "h3")};
  EXPECT_FALSE(same_deployment(planned, active));
  planned = {shape("f", "h1"), shape("g", "h2")};
  planned[1].identity_types = "jsonb,integer";
  EXPECT_FALSE(same_deployment(planned, active));
}

TEST(StopgapPlan, RollbackTargets) {
  std::vector<DeploymentState> ds = {{1, "superseded"}, {2, "rolled_back"}, {3, "superseded"}, {4, "active"},
                                     {5, "rolled_back"}};
  EXPECT_EQ(rollback_target(ds, 4, 1, std::nullopt, "e"), 3);
  EXPECT_EQ(rollback_target(ds, 4, 2, std::nullopt, "e"), 1);  // rolled-back ones are skipped
  EXPECT_EQ(rollback_target(ds, 4, std::nullopt, 1LL, "e"), 1);
  auto code = [&](std::optional<int> steps, std::optional<long long> to) {
    try {
      rollback_target(ds, 4, steps, to, "e");
    } catch (const Problem& p) {
      return p.sqlstate;
    }
    return std::string("none");
  };
  EXPECT_EQ(code(3, std::nullopt), "55000");  // past the first deployment
  EXPECT_EQ(code(0, std::nullopt), "22023");
  EXPECT_EQ(code(-1, std::nullopt), "22023");
  EXPECT_EQ(code(std::nullopt, std::nullopt), "22023");
  EXPECT_EQ(code(std::nullopt, 4LL), "55000");   // already active
  EXPECT_EQ(code(std::nullopt, 5LL), "55000");   // later, rolled back
  EXPECT_EQ(code(std::nullopt, 2LL), "55000");   // rolled back
  EXPECT_EQ(code(std::nullopt, 99LL), "42704");  // not this environment's
}

TEST(StopgapPlan, TransitionsAreTheCatalogTriggers) {
  const char* all[] = {"open", "sealed", "active", "superseded", "rolled_back"};
  std::set<std::pair<std::string, std::string>> allowed;
  for (const char* a : all)
    for (const char* b : all)
      if (std::string(a) != b && transition_allowed(a, b)) allowed.insert({a, b});
  EXPECT_EQ(allowed, (std::set<std::pair<std::string, std::string>>{{"open", "sealed"},
                                                                    {"sealed", "active"},
                                                                    {"active", "superseded"},
                                                                    {"active", "rolled_back"},
                                                                    {"superseded", "active"},
                                                                    {"superseded", "rolled_back"}}));
}

TEST(StopgapPlan, ProblemsAsData) {
  Problem p{"f", "cannot deploy s.f: x", "", "fix it", "42601"};
  p.line = 3;
  p.column = 7;
  nlohmann::json j = p.to_json();
  EXPECT_EQ(j["function"], "f");
  EXPECT_EQ(j["sqlstate"], "42601");
  EXPECT_EQ(j["position"], (nlohmann::json{{"line", 3}, {"column", 7}}));
  EXPECT_EQ(j["hint"], "fix it");
  EXPECT_FALSE(j.contains("detail"));
  EXPECT_TRUE(Problem{}.to_json()["function"].is_null());
}

}  // namespace
}  // namespace stopgap
