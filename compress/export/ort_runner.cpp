#include "compress/export/ort_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train/util/atomic_file.h"
#include "train/util/error.h"

namespace compress {
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Removes the scratch folder however the run ends.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() / ("compress_ort_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

std::string ort_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("COMPRESS_ORT_DIR")) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "tools" / "ort");
  candidates.push_back(fs::current_path() / "tools" / "ort");
  for (const auto& c : candidates)
    if (fs::exists(c / "run.js") && fs::exists(c / "node_modules" / "onnxruntime-node")) return c.string();
  fail(
      "ONNX Runtime is not installed: run `bash tools/setup/setup.sh` (it runs `npm install` in tools/ort with "
      "ONNXRUNTIME_NODE_INSTALL=skip), or point COMPRESS_ORT_DIR at such a folder");
}

bool cpu_has_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

OrtRun run_onnxruntime(const std::string& model, const std::vector<torch::Tensor>& batches, int threads, int repeat,
                       int warmup, const std::string& optimization, bool profile) {
  if (!fs::exists(model)) fail("ONNX model '", model, "' does not exist");
  const std::string dir = ort_dir();
  ScratchDir scratch;
  nlohmann::json manifest{{"batches", nlohmann::json::array()}};
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto t = batches[b].detach().to(torch::kCPU, torch::kFloat32).contiguous();
    const std::string file = "in" + std::to_string(b) + ".bin";
    // Scratch inputs: checked writes without fsync (nothing to keep after the run).
    write_file_atomic((scratch.path / file).string(), t.data_ptr<float>(), t.numel() * sizeof(float), /*sync=*/false);
    manifest["batches"].push_back({{"file", file}, {"shape", t.sizes().vec()}});
  }
  write_file_atomic((scratch.path / "manifest.json").string(), manifest.dump(), /*sync=*/false);
  const std::string cmd = "COMPRESS_ORT_OPT=" + shell_quote(optimization) + " node " + shell_quote(dir + "/run.js") +
                          " " + shell_quote(fs::absolute(model).string()) + " " + shell_quote(scratch.path.string()) +
                          " --threads " + std::to_string(threads) + " --repeat " + std::to_string(repeat) +
                          " --warmup " + std::to_string(warmup) + (profile ? " --profile" : "") + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) fail("cannot start node for ONNX Runtime");
  std::string log;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) log.append(buf, n);
  const int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("ONNX Runtime failed on '", model, "': ", log.empty() ? "node exited with an error" : log);
  const auto out = nlohmann::json::parse(read_all(scratch.path / "outputs.json"));
  OrtRun r;
  r.names = out["outputs"].get<std::vector<std::string>>();
  for (size_t b = 0; b < batches.size(); ++b) {
    std::vector<torch::Tensor> outs;
    for (const auto& name : r.names) {
      const auto shape = out["batches"][b][name].get<std::vector<int64_t>>();
      const std::string raw = read_all(scratch.path / ("out" + std::to_string(b) + "_" + name + ".bin"));
      auto t = torch::empty(shape, torch::kFloat32);
      if (static_cast<int64_t>(raw.size()) != t.numel() * 4)
        fail("ONNX Runtime output '", name, "' has the wrong size");
      std::memcpy(t.data_ptr<float>(), raw.data(), raw.size());
      outs.push_back(t);
    }
    r.outputs.push_back(std::move(outs));
  }
  if (repeat > 0) {
    r.timing_ms = nlohmann::json::parse(read_all(scratch.path / "timing.json")).get<std::vector<double>>();
    const auto m = nlohmann::json::parse(read_all(scratch.path / "memory.json"));
    r.load_ms = m["load_ms"].get<double>();
    r.rss_before_mib = m["rss_before_mib"].get<double>();
    r.peak_rss_mib = m["peak_rss_mib"].get<double>();
  }
  if (profile)
    for (const auto& j : nlohmann::json::parse(read_all(scratch.path / "profile.json")))
      r.profile.push_back({j["op"].get<std::string>(), j["ms"].get<double>(), j["nodes"].get<int64_t>()});
  return r;
}

}  // namespace compress
