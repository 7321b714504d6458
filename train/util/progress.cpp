#include "train/util/progress.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

namespace compress {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "--:--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit, double interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      interval_s_(interval_s),
      start_(std::chrono::steady_clock::now()),
      last_log_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  const double t = elapsed_s();
  return t > 0 ? done_ / t : 0.0;
}

void Progress::update(int64_t done, const std::string& extra) {
  done_ = done;
  if (std::isinf(interval_s_)) return;  // silent: a caller that reports its own progress
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_log_).count() < interval_s_ && done_ < total_) return;
  last_log_ = now;
  const double r = rate();
  const double eta = r > 0 ? (total_ - done_) / r : -1;
  spdlog::info("{} {}/{} {:.1f}% | {:.1f} {}/s | ETA {}{}{}", label_, done_, total_,
               total_ > 0 ? 100.0 * done_ / total_ : 100.0, r, unit_, format_duration(eta), extra.empty() ? "" : " | ",
               extra);
}

void Progress::finish(const std::string& extra) {
  spdlog::info("{} done: {} {} in {} ({:.1f} {}/s){}{}", label_, done_, unit_, format_duration(elapsed_s()), rate(),
               unit_, extra.empty() ? "" : " | ", extra);
}

}  // namespace compress
