// Appends one JSON object per line to <run_dir>/metrics.jsonl (flushed per line,
// so a killed run keeps everything it logged). A resumed run first cuts the
// file back to its checkpoint: rows past `resumed_at` (which the resumed run
// logs again) and a partial last line from a kill are dropped.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>

namespace compress {

class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path, bool append = true,
                      int64_t resumed_at = std::numeric_limits<int64_t>::max());
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace compress
