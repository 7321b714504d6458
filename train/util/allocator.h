#pragma once
// Keep freed memory in the process instead of returning it to the kernel.
//
// Why: a training step allocates and frees the same large activation buffers
// (16x64x96x96 floats = 37 MB) every iteration. glibc serves anything above its
// mmap threshold (at most 32 MB) with a fresh mmap, so every step page-faults
// ~100k pages back in; on this VM that tripled the step time (920 ms -> 249 ms
// for fashion SSDLite-Small at 1 thread, `compress bench train`). Serving all
// sizes from the heap and never trimming it makes the steady-state step fault-free.
// Set COMPRESS_SYSTEM_MALLOC=1 to keep glibc's defaults (e.g. to compare).
namespace compress {

// Returns true when the tuning was applied. Call once, first thing in main().
bool configure_allocator();

}  // namespace compress
