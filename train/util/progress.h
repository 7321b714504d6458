// Progress line for long work: "<label> 1200/4500 26.7% | 310.2 img/s | ETA 00:00:11".
// Logs at most every `interval_s` seconds (and at the end) so it is cheap to call per item;
// an infinite interval logs nothing (for work inside a loop that has its own line).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace compress {

std::string format_duration(double seconds);  // "01:02:03"

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it", double interval_s = 2.0);
  // Marks `done` items finished in total; `extra` is appended to the line.
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_s() const;
  double rate() const;  // items per second so far

 private:
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  double interval_s_;
  std::chrono::steady_clock::time_point start_, last_log_;
};

}  // namespace compress
