#include "train/util/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "train/util/error.h"

namespace compress {
namespace fs = std::filesystem;

namespace {

std::string cause(int err) {
  if (err == ENOSPC || err == EDQUOT) return std::string("disk full (") + std::strerror(err) + ")";
  return std::strerror(err);
}

bool pid_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Closes and removes the temp file unless released: every failure path
// leaves nothing behind.
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) ::unlink(path.c_str());
  }
};

}  // namespace

std::string output_target(const std::string& path) {
  if (path.empty()) fail("output path is empty: give a file name");
  std::error_code ec;
  fs::path target = path;
  // Write through symlinks (the user's link keeps pointing at the new file).
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
    if (hops > 32) fail("cannot write '", path, "': too many levels of symbolic links");
    const fs::path link = fs::read_symlink(target, ec);
    if (ec) fail("cannot write '", path, "': cannot read the symbolic link (", ec.message(), ")");
    target = link.is_absolute() ? link : target.parent_path() / link;
  }
  const auto st = fs::status(target, ec);
  if (fs::exists(st)) {
    if (fs::is_directory(st)) fail("cannot write '", path, "': it is a directory; give a file name");
    if (!fs::is_regular_file(st))
      fail("cannot write '", path, "': it is not a regular file (a device, FIFO or socket); give a file name");
  }
  if (target.filename().empty() || target.filename() == "." || target.filename() == "..")
    fail("cannot write '", path, "': it names a directory; give a file name");
  return target.string();
}

int remove_stale_temps(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(pid_text);
    if (pid == ::getpid() || pid_alive(pid)) continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync) {
  const std::string target = output_target(path);
  const fs::path parent = fs::path(target).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) fail("cannot write '", path, "': cannot create folder '", parent.string(), "' (", ec.message(), ")");
  }
  remove_stale_temps(target);
  TempFile tmp;
  tmp.path = target + ".tmp." + std::to_string(::getpid());
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) {
    const int err = errno;
    tmp.keep = true;  // nothing was created
    fail("cannot write '", path, "': ", cause(err));
  }
  const char* p = static_cast<const char*>(data);
  for (size_t left = size; left > 0;) {
    const ssize_t n = ::write(tmp.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '", path, "': ", cause(errno), "; the previous file is kept");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (sync && ::fsync(tmp.fd) != 0) fail("cannot write '", path, "': ", cause(errno), "; the previous file is kept");
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail("cannot write '", path, "': ", cause(errno), "; the previous file is kept");
  if (::rename(tmp.path.c_str(), target.c_str()) != 0)
    fail("cannot write '", path, "': cannot rename the temp file over it (", cause(errno), ")");
  tmp.keep = true;  // renamed: it is the target now
  // The rename itself reaches the disk with the folder (best effort: some
  // file systems refuse fsync on a directory).
  const int dfd = !sync ? -1 : ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes, bool sync) {
  write_file_atomic(path, bytes.data(), bytes.size(), sync);
}

void check_stdout() {
  std::cout.flush();
  const bool bad = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (bad) fail("cannot write to standard output: ", cause(errno ? errno : EIO));
}

}  // namespace compress
