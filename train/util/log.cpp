#include "train/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

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
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace compress
