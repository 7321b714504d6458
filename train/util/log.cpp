#include "train/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "train/util/error.h"

namespace compress {

void setup_logging(const std::string& level) {
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool known = false;
  for (const char* l : kLevels) known = known || level == l;
  if (!known) fail("--log-level: unknown level '", level, "' (valid: trace, debug, info, warn, error, off)");
  // Logs go to stderr so that stdout stays clean for results (config show, eval tables).
  auto logger = spdlog::get("compress");
  if (!logger) logger = spdlog::stderr_color_mt("compress");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S %^%L%$] %v");
  auto lv = spdlog::level::from_str(level);
  // Under a launcher (RANK set) rank 0 alone logs progress: the other ranks
  // say only warnings and errors unless a more verbose level is asked for.
  if (const char* r = std::getenv("RANK"); r && *r && std::string(r) != "0" && lv == spdlog::level::info)
    lv = spdlog::level::warn;
  spdlog::set_level(lv);
}

}  // namespace compress
