# Unit tests of the stopgap CLI's pure core (cli/): included from test/unit/CMakeLists.txt.
add_executable(cli_unit_tests
  cli_args_test.cpp
  cli_import_scan_test.cpp
  cli_resolve_test.cpp
  cli_project_test.cpp
  cli_output_test.cpp
  cli_commands_test.cpp
  cli_types_test.cpp
  cli_dev_test.cpp)
target_link_libraries(cli_unit_tests PRIVATE stopgap_cli_core GTest::gtest_main)
target_compile_options(cli_unit_tests PRIVATE ${PLTS_WARNINGS})
# cli_types_test checks runtime-js/test/typed-project's committed api.ts against the generator.
target_compile_definitions(cli_unit_tests PRIVATE STOPGAP_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
plts_sanitize(cli_unit_tests)
gtest_discover_tests(cli_unit_tests PROPERTIES LABELS unit)
