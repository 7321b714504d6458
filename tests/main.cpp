// Test entry point: the same allocator tuning as the CLI (see
// train/util/allocator.h), so the suite runs training steps as fast as `compress`.
#include <gtest/gtest.h>

#include "train/util/allocator.h"

int main(int argc, char** argv) {
  compress::configure_allocator();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
