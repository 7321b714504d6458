#include "train/util/metrics_log.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/util/error.h"

namespace compress {

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!out_) fail("cannot open metrics file '", path, "' for writing");
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
}

}  // namespace compress
