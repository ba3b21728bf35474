#include "extensions/plts/compiler/snapshot_file.h"

#include <string>

#include <gtest/gtest.h>

using plts::check_snapshot_file;
using plts::snapshot_file_contents;

namespace {
const std::string kBlob = std::string(100000, 'b') + "end";
}

TEST(SnapshotFile, RoundTrip) {
  std::string file = snapshot_file_contents("10.2.154.26-node.37", kBlob.data(), kBlob.size());
  const char* blob = nullptr;
  size_t len = 0;
  EXPECT_EQ(check_snapshot_file(file.data(), file.size(), "10.2.154.26-node.37", &blob, &len), "");
  ASSERT_EQ(len, kBlob.size());
  EXPECT_EQ(std::string(blob, len), kBlob);
}

TEST(SnapshotFile, RefusesAnotherV8) {
  std::string file = snapshot_file_contents("10.2.154.26-node.37", kBlob.data(), kBlob.size());
  const char* blob = nullptr;
  size_t len = 0;
  EXPECT_NE(
      check_snapshot_file(file.data(), file.size(), "10.2.154.26-node.38", &blob, &len).find("V8"),
      std::string::npos);
  EXPECT_EQ(blob, nullptr);
}

TEST(SnapshotFile, RefusesDamage) {
  std::string file = snapshot_file_contents("v", kBlob.data(), kBlob.size());
  const char* blob = nullptr;
  size_t len = 0;
  std::string truncated = file.substr(0, file.size() - 1);
  EXPECT_EQ(check_snapshot_file(truncated.data(), truncated.size(), "v", &blob, &len),
            "truncated snapshot");
  std::string flipped = file;
  flipped[flipped.size() - 50] ^= 1;
  EXPECT_EQ(check_snapshot_file(flipped.data(), flipped.size(), "v", &blob, &len),
            "snapshot content hash mismatch");
  std::string garbage(4096, 'x');
  EXPECT_EQ(check_snapshot_file(garbage.data(), garbage.size(), "v", &blob, &len),
            "not a plts compiler snapshot");
  EXPECT_EQ(check_snapshot_file("", 0, "v", &blob, &len), "not a plts compiler snapshot");
  std::string bad_header = "PLTS-COMPILER-SNAPSHOT 1\nv8 v\nlength x\n\n";
  EXPECT_EQ(check_snapshot_file(bad_header.data(), bad_header.size(), "v", &blob, &len),
            "malformed snapshot header");
  EXPECT_EQ(blob, nullptr);
}

TEST(SnapshotFile, HashSeesEveryByte) {
  std::string a(1001, 'a'), b = a;
  b[1000] = 'b';  // the tail past the last full word
  EXPECT_NE(plts::content_hash(a.data(), a.size()), plts::content_hash(b.data(), b.size()));
  b = a;
  b[3] = 'b';
  EXPECT_NE(plts::content_hash(a.data(), a.size()), plts::content_hash(b.data(), b.size()));
}
