#include "train/util/process_memory.h"

#include <malloc.h>

#include <fstream>
#include <sstream>
#include <string>

namespace compress {
namespace {

// A "Key:   N kB" line of /proc/self/status, in MiB.
double status_mib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream is(line.substr(key.size() + 1));
      double kb = 0;
      is >> kb;
      return kb / 1024.0;
    }
  return 0;
}

}  // namespace

double rss_mib() { return status_mib("VmRSS"); }
double peak_rss_mib() { return status_mib("VmHWM"); }

bool reset_peak_rss() {
  malloc_trim(0);
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace compress
