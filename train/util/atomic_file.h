// Writing output files so that nothing is lost: a temp file in the target's
// folder, every write checked, fsync, then rename over the target. A failed
// write (disk full, read-only folder) leaves the previous file in place and no
// temp file behind. No torch here.
#pragma once
#include <cstddef>
#include <string>

namespace compress {

// Writes `size` bytes to `path` atomically. A symlink is written through (its
// target is replaced); a target that exists but is not a regular file (a
// directory, /dev/full, a FIFO) is refused, as is an empty path. Errors name
// the path and the cause ("disk full" for ENOSPC/EDQUOT). Stale temp files of
// `path` left by killed processes are removed first.
// `sync` false skips the fsyncs (bulk data that can be regenerated).
void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync = true);
void write_file_atomic(const std::string& path, const std::string& bytes, bool sync = true);

// The file a write to `path` lands in: symlinks resolved; fails naming `path`
// when it is empty or names something other than a regular file.
std::string output_target(const std::string& path);

// Removes `<path>.tmp.<pid>` files whose process is gone (left by a kill in
// the middle of a write). Returns how many were removed.
int remove_stale_temps(const std::string& path);

// fflush(stdout) and checks it (a full pipe or /dev/full): fails naming
// standard output, so a command never exits 0 without its output.
void check_stdout();

}  // namespace compress
