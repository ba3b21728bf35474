// The extensions load in a fresh backend and report their versions.
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;

TEST(Smoke, VersionsInFreshBackends) {
  Connection c;
  EXPECT_NE(c.scalar("select plts.version()").find("(V8 10.2."), std::string::npos);
  EXPECT_EQ(c.scalar("select stopgap.version()"), "stopgap 0.4.0");
}

TEST(Smoke, V8StartsLazilyPerBackend) {
  // Two sessions each start V8 in their own backend; neither affects the other.
  Connection a, b;
  EXPECT_NE(a.backend_pid(), b.backend_pid());
  EXPECT_EQ(a.scalar("select plts.version()"), b.scalar("select plts.version()"));
}
