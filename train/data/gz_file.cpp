#include "train/data/gz_file.h"

#include <zlib.h>

namespace gzfile {

bool read_all(const std::string& path, std::vector<uint8_t>& out, std::string& error) {
  gzFile f = gzopen(path.c_str(), "rb");  // gzread also reads uncompressed files
  if (!f) {
    error = "cannot open";
    return false;
  }
  out.clear();
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  if (n < 0) {
    error = "corrupt gzip stream";
    return false;
  }
  return true;
}

}  // namespace gzfile
