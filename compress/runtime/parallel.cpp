#include "compress/runtime/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

namespace compress::runtime {

int64_t parallel_grain() {
  static const int64_t v = [] {
    const char* e = std::getenv("COMPRESS_PARALLEL_GRAIN");
    return e && *e ? std::atoll(e) : int64_t{131072};
  }();
  return v;
}

void parallel_ranges(int64_t n, const std::function<void(int64_t, int64_t)>& f, int64_t align, int64_t item_elements) {
  const int threads = omp_get_max_threads();
  const int64_t parts = std::min<int64_t>(threads, n * item_elements / parallel_grain());
  if (parts <= 1 || omp_in_parallel()) {
    f(0, n);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int64_t t = 0; t < parts; ++t) {
    const int64_t b = t == 0 ? 0 : std::min(n, (n * t / parts) / align * align);
    const int64_t e = t + 1 == parts ? n : std::min(n, (n * (t + 1) / parts) / align * align);
    if (e > b) f(b, e);
  }
}

}  // namespace compress::runtime
