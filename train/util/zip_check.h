// Checks every record of a zip archive (LibTorch's checkpoint format) against
// the CRC-32 its central directory stores. LibTorch reads archives with
// miniz's CRC checks compiled out, so a flipped byte inside a tensor would
// otherwise load silently. No torch here.
#pragma once
#include <string>

namespace compress {

// Fails naming `path` and the first bad record when the archive is truncated,
// its directory is unreadable, or a stored record's bytes do not match their
// CRC-32. `what` says what the file is ("checkpoint") for the message.
void verify_zip_crcs(const std::string& path, const std::string& what);

}  // namespace compress
