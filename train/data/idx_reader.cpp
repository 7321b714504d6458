#include "train/data/idx_reader.h"

#include "train/data/gz_file.h"

#include "train/util/error.h"

namespace compress {
namespace {

std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> out;
  std::string err;
  if (!gzfile::read_all(path, out, err))
    fail("'", path, "': ", err, " (install dataset-fashion-mnist, or pass --mnist-dir)");
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t off) {
  return (uint32_t(b[off]) << 24) | (uint32_t(b[off + 1]) << 16) | (uint32_t(b[off + 2]) << 8) | b[off + 3];
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const auto b = read_all(path);
  if (b.size() < 16 || be32(b, 0) != 2051) fail("'", path, "': not an idx3 image file (magic 2051)");
  IdxImages im;
  im.count = static_cast<int>(be32(b, 4));
  im.rows = static_cast<int>(be32(b, 8));
  im.cols = static_cast<int>(be32(b, 12));
  const size_t need = 16 + static_cast<size_t>(im.count) * im.rows * im.cols;
  if (b.size() < need) fail("'", path, "': truncated (", b.size(), " bytes, header says ", need, ")");
  im.pixels.assign(b.begin() + 16, b.begin() + need);
  return im;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  const auto b = read_all(path);
  if (b.size() < 8 || be32(b, 0) != 2049) fail("'", path, "': not an idx1 label file (magic 2049)");
  const size_t n = be32(b, 4);
  if (b.size() < 8 + n) fail("'", path, "': truncated");
  return std::vector<uint8_t>(b.begin() + 8, b.begin() + 8 + n);
}

}  // namespace compress
