// Reader for the MNIST "idx" format (optionally gzip-compressed), as shipped by
// Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist/.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace compress {

struct IdxImages {
  int count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // (count, rows, cols), row-major
  const uint8_t* image(int i) const { return pixels.data() + static_cast<size_t>(i) * rows * cols; }
};

IdxImages read_idx_images(const std::string& path);             // magic 2051
std::vector<uint8_t> read_idx_labels(const std::string& path);  // magic 2049

}  // namespace compress
