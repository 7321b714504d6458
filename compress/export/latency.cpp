#include "compress/export/latency.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "compress/export/architectures.h"
#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "train/models/detector.h"
#include "train/util/error.h"

namespace compress {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

std::vector<int64_t> image_input_dims(const std::string& path, const std::string& what) {
  std::vector<int64_t> dims;
  try {
    dims = onnx_export::read_input_dims(path);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (dims.size() != 4) fail(what, ": '", path, "' has no (N, 3, H, W) input");
  return dims;
}

namespace {
// One random (1, 3, H, W) batch for `path`, timed by `engine` (ORT or oneDNN).
LatencyRow time_engine(const std::string& path, const std::string& engine, int threads, int runs,
                       const std::function<OrtRun(const torch::Tensor&)>& run) {
  auto dims = image_input_dims(path, "bench onnx");
  dims[0] = 1;
  torch::manual_seed(0);
  const OrtRun r = run(torch::randn(dims));
  LatencyRow row;
  row.model = path;
  row.engine = engine;
  row.threads = threads;
  row.input = dims[2];
  row.median_ms = median(r.timing_ms);
  row.runs = runs;
  row.samples_ms = r.timing_ms;
  row.profile = r.profile;
  row.load_ms = r.load_ms;
  row.rss_before_mib = r.rss_before_mib;
  row.peak_rss_mib = r.peak_rss_mib;
  return row;
}
}  // namespace

LatencyRow time_onnxruntime(const std::string& path, int threads, int runs, int warmup, bool profile) {
  return time_engine(path, "onnxruntime", threads, runs, [&](const torch::Tensor& x) {
    return run_onnxruntime(path, {x}, threads, runs, warmup, "all", profile);
  });
}

LatencyRow time_onednn(const std::string& path, int threads, int runs, int warmup, bool profile) {
  return time_engine(path, "onednn", threads, runs,
                     [&](const torch::Tensor& x) { return run_onednn(path, {x}, threads, runs, warmup, {}, profile); });
}

LatencyRow time_libtorch(DetectorImpl& model, const std::string& name, int64_t h, int64_t w, int threads, int runs,
                         int warmup) {
  torch::NoGradGuard no_grad;
  model.eval();
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const auto x = torch::randn({1, 3, h, w});
  const auto& finish = architecture_export(model).finish;
  std::vector<double> ms;
  for (int i = 0; i < warmup + runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = model.forward(x);
    // What the exported graph holds past forward() (Cascade R-CNN: proposals and stages).
    if (finish) finish(model, out, h, w);
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) ms.push_back(dt);
  }
  LatencyRow row;
  row.model = name;
  row.engine = "libtorch";
  row.threads = threads;
  row.input = h;
  row.median_ms = median(ms);
  row.runs = runs;
  row.samples_ms = ms;
  return row;
}

std::vector<LatencyRow> merge_rounds(const std::vector<std::vector<LatencyRow>>& rounds) {
  if (rounds.empty()) return {};
  std::vector<LatencyRow> out;
  for (const auto& first : rounds[0]) {
    LatencyRow m = first;
    m.samples_ms.clear();
    std::vector<double> load, before, peak;
    for (const auto& round : rounds)
      for (const auto& r : round)
        if (r.model == first.model && r.engine == first.engine && r.threads == first.threads) {
          m.samples_ms.insert(m.samples_ms.end(), r.samples_ms.begin(), r.samples_ms.end());
          load.push_back(r.load_ms);
          before.push_back(r.rss_before_mib);
          peak.push_back(r.peak_rss_mib - r.rss_before_mib);
        }
    m.median_ms = median(m.samples_ms);
    m.runs = static_cast<int>(m.samples_ms.size());
    m.load_ms = median(load);
    m.rss_before_mib = median(before);
    m.peak_rss_mib = m.rss_before_mib + median(peak);  // so that added_mib() is the median round's
    out.push_back(std::move(m));
  }
  return out;
}

std::string latency_table(const std::vector<LatencyRow>& rows) {
  std::map<std::pair<std::string, int>, double> first;  // (engine, threads) -> first model's ms
  for (const auto& r : rows) first.emplace(std::make_pair(r.engine, r.threads), r.median_ms);
  std::ostringstream os;
  os << "| model | engine | threads | input | median latency (ms) | vs first model | load (ms) | peak memory added "
        "(MiB) |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    const double base = first[{r.engine, r.threads}];
    os << "| " << r.model << " | " << r.engine << " | " << r.threads << " | " << r.input << " | " << r.median_ms
       << " | " << (base > 0 ? r.median_ms / base : 0) << "x | ";
    if (r.peak_rss_mib > 0)
      os << r.load_ms << " | " << r.added_mib() << " |\n";
    else
      os << "- | - |\n";
  }
  return os.str();
}

std::string profile_table(const std::vector<LatencyRow>& rows) {
  std::vector<const LatencyRow*> cols;
  std::vector<std::string> ops;  // first seen first: the first model's slowest op types lead
  for (const auto& r : rows) {
    if (r.profile.empty()) continue;
    cols.push_back(&r);
    for (const auto& t : r.profile)
      if (std::find(ops.begin(), ops.end(), t.op) == ops.end()) ops.push_back(t.op);
  }
  if (cols.empty()) return "";
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << "| op type or kernel (ms per run, share) |";
  for (const auto* c : cols) os << " " << c->model << " (" << c->engine << ", " << c->threads << " thr.) |";
  os << "\n|---|";
  for (size_t i = 0; i < cols.size(); ++i) os << "---|";
  os << "\n";
  std::vector<double> total(cols.size(), 0);
  for (size_t i = 0; i < cols.size(); ++i)
    for (const auto& t : cols[i]->profile) total[i] += t.ms;
  for (const auto& op : ops) {
    os << "| " << op << " |";
    for (size_t i = 0; i < cols.size(); ++i) {
      const auto& p = cols[i]->profile;
      const auto it = std::find_if(p.begin(), p.end(), [&](const OpTime& t) { return t.op == op; });
      if (it == p.end()) {
        os << " |";
        continue;
      }
      os << " " << it->ms << " (" << std::setprecision(0) << 100 * it->ms / std::max(total[i], 1e-12) << "%, "
         << it->nodes << " nodes) |" << std::setprecision(2);
    }
    os << "\n";
  }
  os << "| **all kernels** |";
  for (double t : total) os << " **" << t << "** |";
  os << "\n";
  return os.str();
}

}  // namespace compress
