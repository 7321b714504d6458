#include "train/util/metrics_log.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/util/atomic_file.h"
#include "train/util/error.h"

namespace compress {

namespace {

// The complete rows of an existing log up to iteration `last` (rows without
// an iteration are kept); whether anything was dropped.
bool rows_through(const std::string& path, int64_t last, std::string& kept) {
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  bool dropped = false;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = text.substr(start, nl - start);
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() ||
        (j.contains("iter") && j["iter"].is_number() && j["iter"].get<int64_t>() > last)) {
      dropped = true;
      continue;
    }
    kept += line + '\n';
  }
  return dropped || start < text.size();  // a partial last line (a kill mid-write)
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, bool append, int64_t resumed_at) : path_(path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  if (append && std::filesystem::exists(path)) {
    std::string kept;
    if (rows_through(path, resumed_at, kept)) {
      write_file_atomic(path, kept);
      spdlog::info("'{}' cut back to the checkpoint's iteration {} (rows past it are logged again)", path, resumed_at);
    }
  }
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  if (!out_) fail("cannot open metrics file '", path, "' for writing");
}

void MetricsLog::write(const nlohmann::json& record) {
  nlohmann::json r = record;
  if (!r.contains("time")) {  // wall-clock seconds since the epoch: runs compare at equal wall time
    r["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  out_ << r.dump() << '\n';
  out_.flush();
  if (!out_) fail("cannot append to metrics file '", path_, "' (disk full?)");
}

}  // namespace compress
