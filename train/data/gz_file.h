// Reads a whole (optionally gzip-compressed) file. Kept in its own namespace and
// translation unit: zlib declares a global function named `compress`, which
// clashes with our namespace of the same name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gzfile {
// Returns false and sets `error` on failure.
bool read_all(const std::string& path, std::vector<uint8_t>& out, std::string& error);
}  // namespace gzfile
