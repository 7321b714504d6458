// Appends one JSON object per line to <run_dir>/metrics.jsonl (flushed per line,
// so a killed run keeps everything it logged).
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <fstream>
#include <string>

namespace compress {

class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path, bool append = true);
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace compress
