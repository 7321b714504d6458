// Helpers shared by the tests: temp folders, small files, running the CLI.
#pragma once
#include <sys/wait.h>

#include <unistd.h>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace testutil {

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("compress_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct CliResult {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line and returns its exit code and output.
inline CliResult run_shell(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  CliResult r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs build/compress with `args` (shell syntax).
inline CliResult run_cli(const std::string& args) { return run_shell(std::string(COMPRESS_BINARY) + " " + args); }

// How many times `needle` occurs in `text` (a line logged once, not per rank).
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A TCP port for a test's process group: per test process and call site, so
// tests that ctest runs side by side do not meet on one port.
inline int test_port(int offset) { return 20000 + (getpid() * 7 + offset * 13) % 20000; }

inline std::string source_path(const std::string& rel) { return std::string(COMPRESS_SOURCE_DIR) + "/" + rel; }
// Golden cases kept in the repository (tests/data/<rel>), so a clone alone passes.
inline std::string golden_path(const std::string& rel) {
  return std::string(COMPRESS_SOURCE_DIR) + "/tests/data/" + rel;
}

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace testutil
