// Logging set-up shared by the CLI and the tests.
#pragma once
#include <string>

namespace compress {

// level: trace|debug|info|warn|error|off. Throws compress::Error on anything else.
void setup_logging(const std::string& level);

}  // namespace compress
