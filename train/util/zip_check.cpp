#include "train/util/zip_check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "train/util/error.h"

namespace compress {
namespace {

// The zip format's little-endian fields (APPNOTE.TXT 4.3).
uint32_t u32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint64_t u64(const unsigned char* p) { return u32(p) | (uint64_t(u32(p + 4)) << 32); }

constexpr uint32_t kEocd = 0x06054b50, kEocd64 = 0x06064b50, kEocd64Locator = 0x07064b50;
constexpr uint32_t kCentral = 0x02014b50, kLocal = 0x04034b50;

// CRC-32 as zip stores it (reflected polynomial 0xEDB88320), slicing by 4.
// Written here rather than taken from zlib, whose global `compress()` cannot
// share a translation unit with this namespace.
struct CrcTables {
  uint32_t t[4][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 4; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  }
};

uint32_t crc_of(const unsigned char* p, uint64_t n) {
  static const CrcTables tables;
  const auto& t = tables.t;
  uint32_t c = 0xFFFFFFFFu;
  for (; n >= 4; n -= 4, p += 4) {
    c ^= static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
    c = t[3][c & 0xFFu] ^ t[2][(c >> 8) & 0xFFu] ^ t[1][(c >> 16) & 0xFFu] ^ t[0][c >> 24];
  }
  for (; n > 0; --n, ++p) c = (c >> 8) ^ t[0][(c ^ *p) & 0xFFu];
  return c ^ 0xFFFFFFFFu;
}

struct Mapped {
  const unsigned char* data = nullptr;
  size_t size = 0;
  ~Mapped() {
    if (data) ::munmap(const_cast<unsigned char*>(data), size);
  }
};

// ZIP64 extra field (id 1): the 64-bit values that are 0xFFFFFFFF in the header,
// in the order uncompressed size, compressed size, local header offset.
void read_zip64_extra(const unsigned char* extra, size_t len, uint64_t& usize, uint64_t& csize, uint64_t& offset) {
  for (size_t at = 0; at + 4 <= len;) {
    const uint16_t id = u16(extra + at), n = u16(extra + at + 2);
    if (at + 4 + n > len) return;
    if (id == 1) {
      const unsigned char* f = extra + at + 4;
      size_t k = 0;
      if (usize == 0xFFFFFFFFu && k + 8 <= n) usize = u64(f + k), k += 8;
      if (csize == 0xFFFFFFFFu && k + 8 <= n) csize = u64(f + k), k += 8;
      if (offset == 0xFFFFFFFFu && k + 8 <= n) offset = u64(f + k), k += 8;
      return;
    }
    at += 4 + n;
  }
}

}  // namespace

void verify_zip_crcs(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read ", what, " '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(what, " '", path, "' is not a regular file");
  }
  Mapped m;
  m.size = static_cast<size_t>(st.st_size);
  if (m.size < 22) {
    ::close(fd);
    fail(what, " '", path, "' is truncated or not a compress ", what, " (", m.size, " bytes)");
  }
  void* p = ::mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) fail("cannot read ", what, " '", path, "': ", std::strerror(errno));
  m.data = static_cast<const unsigned char*>(p);
  const unsigned char* d = m.data;
  const size_t size = m.size;
  auto corrupt = [&](const std::string& why) {
    fail(what, " '", path, "' is corrupt or truncated: ", why, " (write it again, or use an earlier copy)");
  };

  // The end-of-central-directory record: within the last 64 KiB + 22 bytes.
  size_t eocd = size;
  for (size_t i = size - 22 + 1; i-- > 0 && size - i <= 65535 + 22;)
    if (u32(d + i) == kEocd) {
      eocd = i;
      break;
    }
  if (eocd == size) corrupt("no zip directory at its end");
  uint64_t entries = u16(d + eocd + 10);
  uint64_t dir_offset = u32(d + eocd + 16);
  if ((entries == 0xFFFF || dir_offset == 0xFFFFFFFFu) && eocd >= 20 && u32(d + eocd - 20) == kEocd64Locator) {
    const uint64_t at = u64(d + eocd - 20 + 8);
    if (at + 56 > size || u32(d + at) != kEocd64) corrupt("bad ZIP64 directory record");
    entries = u64(d + at + 32);
    dir_offset = u64(d + at + 48);
  }
  uint64_t at = dir_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > size || u32(d + at) != kCentral) corrupt("directory entry " + std::to_string(e) + " is unreadable");
    const uint16_t method = u16(d + at + 10);
    const uint32_t crc = u32(d + at + 16);
    uint64_t csize = u32(d + at + 20), usize = u32(d + at + 24);
    const uint16_t name_len = u16(d + at + 28), extra_len = u16(d + at + 30), comment_len = u16(d + at + 32);
    uint64_t local = u32(d + at + 42);
    if (at + 46 + name_len + extra_len > size) corrupt("directory entry " + std::to_string(e) + " is cut off");
    const std::string name(reinterpret_cast<const char*>(d + at + 46), name_len);
    read_zip64_extra(d + at + 46 + name_len, extra_len, usize, csize, local);
    if (local + 30 > size || u32(d + local) != kLocal) corrupt("record '" + name + "' has no header");
    const uint64_t start = local + 30 + u16(d + local + 26) + u16(d + local + 28);
    if (start + csize > size) corrupt("record '" + name + "' is cut off");
    // LibTorch stores records uncompressed; a compressed one is left to the reader.
    if (method == 0 && (csize != usize || crc_of(d + start, usize) != crc))
      corrupt("record '" + name + "' does not match its CRC-32");
    at += 46 + name_len + extra_len + comment_len;
  }
}

}  // namespace compress
