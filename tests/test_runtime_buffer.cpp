// The runtime's buffer pool (compress/runtime/value.h): activations carved
// in order from chunks on 2 MiB pages, each block reused for its size class,
// constants and blocks past the chunks' cap from malloc, and the chunks
// returned once no block of theirs is in use.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "compress/runtime/value.h"

namespace compress::runtime {
namespace {

uintptr_t addr(const Buffer& b) { return reinterpret_cast<uintptr_t>(b.data()); }

// The process's anonymous memory on huge pages (kB), for the log: the kernel
// grants them only where transparent huge pages are on (always or madvise).
long anon_huge_kb() {
  std::ifstream f("/proc/self/smaps_rollup");
  std::string key;
  long kb = 0;
  while (f >> key) {
    if (key == "AnonHugePages:") {
      f >> kb;
      return kb;
    }
  }
  return -1;
}

// Whether the kernel gives huge pages to a madvised region at its first touch
// (transparent huge pages on for madvise, and compacting memory for them
// then): where it does, the chunks must get them.
bool kernel_grants_huge_pages_on_fault() {
  auto mode = [](const std::string& path) {
    std::ifstream f(path);
    std::string all, w;
    while (f >> w) all += w + " ";
    return all;
  };
  const std::string enabled = mode("/sys/kernel/mm/transparent_hugepage/enabled");
  const std::string defrag = mode("/sys/kernel/mm/transparent_hugepage/defrag");
  const bool on = enabled.find("[always]") != std::string::npos || enabled.find("[madvise]") != std::string::npos;
  const bool compacts = defrag.find("[always]") != std::string::npos || defrag.find("[madvise]") != std::string::npos;
  return on && compacts;
}

}  // namespace

TEST(RuntimeBuffer, ActivationsAreCarvedInOrderFromHugePageChunksAndReusedBySize) {
  release_idle_buffers();
  const size_t n = 100000;  // size class 106496: 13 steps of 65536 / 8
  auto a = std::make_unique<Buffer>(n);
  auto b = std::make_unique<Buffer>(n);
  ASSERT_TRUE(a->huge_pages());
  ASSERT_TRUE(b->huge_pages());
  EXPECT_EQ(a->size(), 106496u);
  EXPECT_EQ(addr(*b), addr(*a) + a->size()) << "the second block follows the first in its chunk";
  EXPECT_EQ(addr(*a) % 64, 0u);
  // A freed block waits for the next request of its size class.
  const uintptr_t was = addr(*a);
  a.reset();
  auto c = std::make_unique<Buffer>(n - 50);
  EXPECT_EQ(addr(*c), was);
  // Constants are not carved from the chunks.
  Buffer k(n, false);
  EXPECT_FALSE(k.huge_pages());
  b.reset();
  c.reset();
  // With nothing in use, releasing the idle blocks returns the chunks: the
  // next block starts a fresh chunk, on a 2 MiB boundary.
  release_idle_buffers();
  auto d = std::make_unique<Buffer>(n);
  ASSERT_TRUE(d->huge_pages());
  EXPECT_EQ(addr(*d) % (size_t{2} << 20), 0u);
  // Touched, the chunk's pages are huge where the kernel grants them.
  const long before = anon_huge_kb();
  auto big = std::make_unique<Buffer>(size_t{4} << 20);
  for (size_t i = 0; i < big->size(); i += 4096) big->data()[i] = 1;
  const long added = anon_huge_kb() - before;
  RecordProperty("anon_huge_kb_added", std::to_string(added));
  if (kernel_grants_huge_pages_on_fault()) EXPECT_GE(added, 2048) << "a touched 4 MiB block got no 2 MiB page";
}

TEST(RuntimeBuffer, PastTheChunksCapBlocksComeFromMalloc) {
  // The default cap is one 16 MiB chunk: three 4 MiB blocks fit after a
  // small one, the fourth does not (nor does a block larger than a chunk).
  release_idle_buffers();
  std::vector<std::unique_ptr<Buffer>> held;
  held.push_back(std::make_unique<Buffer>(4096));
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Buffer>(size_t{4} << 20));
    EXPECT_TRUE(held.back()->huge_pages()) << "block " << i;
  }
  held.push_back(std::make_unique<Buffer>(size_t{4} << 20));
  EXPECT_FALSE(held.back()->huge_pages());
  Buffer large(size_t{17} << 20);
  EXPECT_FALSE(large.huge_pages());
  held.clear();
  release_idle_buffers();
  // Empty blocks (a tensor with a 0 dimension) never come from a chunk: they
  // would share the chunk's next address, one past its end once it is full.
  {
    Buffer z1(0), z2(0);
    EXPECT_FALSE(z1.huge_pages());
    EXPECT_NE(z1.data(), z2.data());
  }
  release_idle_buffers();
}

}  // namespace compress::runtime
