// Elementwise passes on the runtime's OpenMP threads (the ones oneDNN's convs
// use, set by --threads): n items split into one contiguous range per thread.
// Small tensors stay on one thread, where forking would cost more than it saves.
#pragma once
#include <cstdint>
#include <functional>

namespace compress::runtime {

// Below this many elements per thread a pass runs on one thread.
int64_t parallel_grain();

// f(begin, end) over n items in ranges of whole multiples of `align` items
// (the vector loops' width, so every range but the last has no scalar tail);
// an item holds `item_elements` elements (a pixel: its channels). Compiled
// once, with OpenMP (parallel.cpp), whatever the caller's flags.
void parallel_ranges(int64_t n, const std::function<void(int64_t, int64_t)>& f, int64_t align = 64,
                     int64_t item_elements = 1);

}  // namespace compress::runtime
