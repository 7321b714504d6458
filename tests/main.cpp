// Test entry point: the same allocator tuning as the CLI (see
// train/util/allocator.h), so the suite runs training steps as fast as `compress`.
// With COMPRESS_SYNCBN_WORKER_OUT (or COMPRESS_JOBS_WORKER_OUT) set, the binary
// is instead one rank of the SyncBN (shared jobs) multi-process test
// (tests/test_distributed.cpp starts it through the launcher).
#include <gtest/gtest.h>

#include <cstdlib>

#include "compress/config_sections.h"
#include "train/util/allocator.h"

int syncbn_worker(const char* out);  // tests/test_distributed.cpp
int jobs_worker(const char* out);    // tests/test_distributed.cpp

int main(int argc, char** argv) {
  compress::configure_allocator();
  compress::compose_config_schema();
  if (const char* out = std::getenv("COMPRESS_SYNCBN_WORKER_OUT")) return syncbn_worker(out);
  if (const char* out = std::getenv("COMPRESS_JOBS_WORKER_OUT")) return jobs_worker(out);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
