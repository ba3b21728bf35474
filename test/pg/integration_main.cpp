#include <cstdlib>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (std::getenv("PGPORT") == nullptr) {
    // Listing tests (ctest discovery) needs no server; running them does.
    if (!testing::GTEST_FLAG(list_tests)) {
      fprintf(stderr, "PGHOST/PGPORT not set: run through scripts/test.sh\n");
      return 1;
    }
  }
  return RUN_ALL_TESTS();
}
