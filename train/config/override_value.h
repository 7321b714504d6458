// Numbers written into `key=value` overrides without losing digits:
// std::to_string prints 6 decimals, so a learning rate below 5e-7 became 0.
#pragma once
#include <cstdio>
#include <string>

namespace compress {

inline std::string override_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips every double
  return buf;
}

}  // namespace compress
