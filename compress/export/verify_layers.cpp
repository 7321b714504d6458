#include "compress/export/verify_layers.h"

#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include "compress/export/onednn_runner.h"
#include "compress/export/onnx_graph.h"
#include "compress/export/ort_runner.h"
#include "compress/quant/conv_quant.h"
#include "train/util/error.h"

namespace compress {
namespace {

using Key = std::tuple<std::string, std::string, int64_t>;  // conv, kind, site

// How close to x.5 steps a value must lie for a one-step flip to count as a
// tie: float32 sums of a few thousand products err by ~1e-5 of a step.
constexpr double kTieSteps = 1e-3;

std::string key_str(const std::string& conv, const std::string& kind, int64_t site) {
  return conv + " " + kind + (site > 0 ? "[" + std::to_string(site) + "]" : "");
}

// Clears every probe on exit, errors included.
struct ProbeGuard {
  std::vector<quant::ConvQuantImpl*> qs;
  ~ProbeGuard() {
    for (auto* q : qs) q->probe = nullptr;
  }
};

struct RemoveFile {
  std::string path;
  ~RemoveFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

std::string LayerVerify::table(size_t worst) const {
  std::ostringstream os;
  double lo[2] = {1, 1};
  std::string lo_name[2];
  for (const auto& r : rows)
    for (int l = 0; l < 2; ++l)
      if (r.same[l] < lo[l]) lo[l] = r.same[l], lo_name[l] = key_str(r.conv, r.kind, r.site);
  os << "Layer by layer (" << rows.size() << " int8 tensors, each LibTorch layer on "
     << (runtime == "onednn" ? "the oneDNN runtime" : "ONNX Runtime") << "'s inputs; identical "
     << "codes needed: " << min_same * 100 << "%):\n";
  if (runtime == "onednn") {
    os << "- oneDNN runtime: worst " << (lo_name[0].empty() ? "-" : lo_name[0]) << " " << lo[0] * 100 << "%\n";
  } else {
    os << "- optimizations disabled: worst " << (lo_name[0].empty() ? "-" : lo_name[0]) << " " << lo[0] * 100 << "%\n";
    os << "- optimizations all: worst " << (lo_name[1].empty() ? "-" : lo_name[1]) << " " << lo[1] * 100 << "%\n";
  }
  for (const auto& u : unmatched) os << "- " << u << "\n";
  std::vector<const LayerAgreement*> order;
  for (const auto& r : rows) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const LayerAgreement* a, const LayerAgreement* b) {
    return std::min(a->same[0], a->same[1]) < std::min(b->same[0], b->same[1]);
  });
  int64_t all_ties[2] = {0, 0};
  for (const auto& r : rows) all_ties[0] += r.ties[0], all_ties[1] += r.ties[1];
  os << "- boundary ties (one step, within 1e-3 steps of x.5; counted as identical): " << all_ties[0] << " disabled, "
     << all_ties[1] << " all\n";
  os << "\n| int8 tensor | elements | identical (disabled) | worst steps | identical (all) | worst steps |\n"
        "|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < order.size() && i < worst; ++i) {
    const auto& r = *order[i];
    os << "| " << key_str(r.conv, r.kind, r.site) << " | " << r.elements << " | " << r.same[0] * 100 << "% | "
       << r.worst_steps[0] << " | " << r.same[1] * 100 << "% | " << r.worst_steps[1] << " |\n";
  }
  if (!first_bad.empty()) os << "\nFirst disagreeing layer: " << first_bad << "\n";
  return os.str();
}

LayerVerify verify_layers(DetectorImpl& model, const std::string& onnx_path, const std::vector<torch::Tensor>& images,
                          double min_same, const std::string& runtime) {
  torch::NoGradGuard no_grad;
  model.eval();
  check_runtime_name(runtime, "verify_layers");
  LayerVerify v;
  v.min_same = min_same;
  v.runtime = runtime;
  const RemoveFile copy{
      (std::filesystem::temp_directory_path() / ("compress_verify_" + std::to_string(::getpid()) + ".onnx")).string()};
  const auto points = onnx_export::expose_activation_qdq(onnx_path, copy.path);
  std::map<Key, size_t> point_of;
  for (size_t i = 0; i < points.size(); ++i) point_of[{points[i].conv, points[i].kind, points[i].site}] = i;
  v.rows.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    v.rows[i].conv = points[i].conv;
    v.rows[i].kind = points[i].kind;
    v.rows[i].site = points[i].site;
  }
  // The conv each quantizer belongs to, as the exporter names it (<conv>_quant -> <conv>).
  ProbeGuard guard;
  std::map<const quant::ConvQuantImpl*, std::string> conv_of;
  for (const auto& item : model.named_modules())
    if (auto* q = dynamic_cast<quant::ConvQuantImpl*>(item.value().get())) {
      const auto& k = item.key();
      conv_of[q] = k.substr(0, k.size() - std::string("_quant").size());
      guard.qs.push_back(q);
    }
  std::map<Key, bool> sim_seen;
  std::vector<int64_t> same(points.size() * 2, 0), total(points.size() * 2, 0);
  std::vector<double> worst(points.size() * 2, 0);
  std::vector<int64_t> ties(points.size() * 2, 0);
  const char* levels[2] = {"disabled", "all"};
  const bool onednn = runtime == "onednn";
  std::vector<std::string> exposed;
  for (const auto& p : points) exposed.push_back(p.tensor);
  for (int l = 0; l < (onednn ? 1 : 2); ++l) {
    // oneDNN: the file itself with its pairs exposed (its fused plan, not a copy's).
    const OrtRun ort = onednn ? run_onednn(onnx_path, images, 1, 0, 0, exposed)
                              : run_onnxruntime(copy.path, images, 1, 0, 0, levels[l]);
    std::map<std::string, size_t> out_index;
    for (size_t i = 0; i < ort.names.size(); ++i) out_index[ort.names[i]] = i;
    for (size_t b = 0; b < images.size(); ++b) {
      for (auto* q : guard.qs)
        q->probe = [&, l, b](const quant::ConvQuantImpl& qq, const char* kind, const torch::Tensor& before,
                             const torch::Tensor& rounded) {
          const Key key{conv_of.at(&qq), kind, qq.site};
          sim_seen[key] = true;
          const auto it = point_of.find(key);
          if (it == point_of.end()) return rounded;  // reported below
          const size_t i = it->second;
          const auto& t = ort.outputs[b].at(out_index.at(points[i].tensor));
          if (t.sizes() != rounded.sizes())
            fail("export --verify: '", key_str(std::get<0>(key), kind, qq.site), "' has shape ", t.sizes(),
                 " in ONNX Runtime but ", rounded.sizes(), " in LibTorch");
          const double step =
              std::max<double>(std::string(kind) == "input" ? qq.input_step(qq.site) : qq.output_step(qq.site), 1e-12);
          const auto d = (t - rounded).abs() / step;  // in steps
          // Identical: the same code on the same grid (both are code x step in
          // float32, so equal up to float error; a file whose step differs
          // by 2% puts every nonzero code off the grid). A one-step
          // difference where LibTorch's value lay within float error of a
          // rounding boundary (x.5 steps) is a tie that either engine's
          // summation order may break either way: counted apart.
          const auto frac = (before / step - torch::floor(before / step) - 0.5).abs();
          const auto equal = d <= kTieSteps;
          const auto tie = ((d - 1).abs() <= kTieSteps) & (frac <= kTieSteps);
          same[i * 2 + l] += (equal | tie).sum().item<int64_t>();
          ties[i * 2 + l] += tie.sum().item<int64_t>();
          total[i * 2 + l] += d.numel();
          worst[i * 2 + l] = std::max(worst[i * 2 + l], d.max().item<double>());
          return t;  // the next layers run on the runtime's values
        };
      model.forward(images[b]);
    }
  }
  if (onednn)  // one level: the second column repeats it
    for (size_t i = 0; i < points.size(); ++i) {
      same[i * 2 + 1] = same[i * 2];
      total[i * 2 + 1] = total[i * 2];
      worst[i * 2 + 1] = worst[i * 2];
      ties[i * 2 + 1] = ties[i * 2];
    }
  for (size_t i = 0; i < points.size(); ++i) {
    auto& r = v.rows[i];
    r.elements = total[i * 2];
    for (int l = 0; l < 2; ++l) {
      r.same[l] = total[i * 2 + l] ? static_cast<double>(same[i * 2 + l]) / total[i * 2 + l] : 0.0;
      r.worst_steps[l] = worst[i * 2 + l];
      r.ties[l] = ties[i * 2 + l];
    }
    if (!sim_seen.count({r.conv, r.kind, r.site}))
      v.unmatched.push_back("the file rounds '" + key_str(r.conv, r.kind, r.site) + "' where LibTorch does not");
  }
  for (const auto& [key, seen] : sim_seen)
    if (!point_of.count(key))
      v.unmatched.push_back("LibTorch rounds '" + key_str(std::get<0>(key), std::get<1>(key), std::get<2>(key)) +
                            "' where the file has no QDQ pair");
  for (const auto& r : v.rows) {
    if (std::min(r.same[0], r.same[1]) >= min_same) continue;
    std::ostringstream os;
    os << key_str(r.conv, r.kind, r.site) << ": " << (1 - r.same[0]) * 100 << "% of codes off with optimizations "
       << "disabled (worst " << r.worst_steps[0] << " steps), " << (1 - r.same[1]) * 100 << "% at all (worst "
       << r.worst_steps[1] << " steps)";
    v.first_bad = os.str();
    break;
  }
  if (v.first_bad.empty() && !v.unmatched.empty()) v.first_bad = v.unmatched.front();
  v.ok = v.first_bad.empty();
  return v;
}

}  // namespace compress
