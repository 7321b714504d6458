#include "train/util/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace compress {

bool configure_allocator() {
  const char* opt_out = std::getenv("COMPRESS_SYSTEM_MALLOC");
  if (opt_out && std::strcmp(opt_out, "0") != 0) return false;
  // No mmap-backed chunks: every size comes from the brk heap (non-main arenas
  // still fall back to mmap for requests larger than their 64 MB heaps).
  bool ok = mallopt(M_MMAP_MAX, 0) == 1;
  // Never give the heap top back: the next step needs the same memory again.
  ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 64 << 20) == 1 && ok;
  return ok;
}

}  // namespace compress
