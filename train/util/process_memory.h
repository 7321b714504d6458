// This process's resident memory, from /proc/self (Linux), for benchmarks
// that report what a model costs in memory: the resident set now, its peak,
// and a reset of the peak so that one phase can be measured on its own.
#pragma once

namespace compress {

// Current resident set size (MiB); 0 where /proc is not readable.
double rss_mib();
// Peak resident set size since start or the last reset (MiB); 0 where unreadable.
double peak_rss_mib();
// Hands freed heap memory back to the system, then resets the peak to the
// current resident set (/proc/self/clear_refs "5"). False where the kernel
// refuses: the peak then still counts from process start.
bool reset_peak_rss();

}  // namespace compress
