// Shared by the export tests: random BN statistics, so that folding is
// exercised, and what a verified export must show.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "compress/export/verify.h"
#include "compress/quant/qat.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/models/detector.h"

namespace testutil {

// Fresh BN is the identity; random running statistics and scales make the
// folded conv differ from the raw one. Detector class logits are spread too: an
// untrained head scores every box ~1/C, and the order of such ties (hence AP)
// would hang on the last float bit.
inline void randomize_bn(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& b : m.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.2, 0.2);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
  for (auto& p : m.named_parameters()) {
    if (p.key().find("bn.weight") != std::string::npos) p.value().uniform_(0.5, 1.5);
    if (p.key().rfind("conf.", 0) == 0 && p.key().find(".pw.conv.weight") != std::string::npos) p.value().mul_(30);
    if (p.key().rfind("yolo_output.", 0) == 0 && p.key().find(".conv.weight") != std::string::npos) p.value().mul_(30);
    // Cascade R-CNN's predictors start at N(0, 0.01) logits and N(0, 0.001)
    // deltas: spread the classes, and let each stage move its boxes by ~1%.
    if (p.key().rfind("bbox_head.", 0) == 0 && p.key().find(".cls_score.weight") != std::string::npos)
      p.value().mul_(300);
    if (p.key().rfind("bbox_head.", 0) == 0 && p.key().find(".bbox_pred.weight") != std::string::npos)
      p.value().mul_(100);
  }
}

inline void expect_verified(const compress::VerifyReport& v, const std::string& what) {
  EXPECT_TRUE(v.ok) << what << "\n" << v.table();
  for (size_t i = 0; i < v.outputs.size(); ++i)
    if (!v.quantized || (i < v.exact.size() && v.exact[i]))
      EXPECT_LE(v.max_abs_diff[i], 1e-4 * std::max(1.0, v.max_abs_ref[i])) << what << " " << v.outputs[i];
  EXPECT_GE(v.ap_ort, v.ap_lo - 0.003) << what;
  EXPECT_LE(v.ap_ort, v.ap_hi + 0.003) << what;
  if (v.quantized) EXPECT_LE(std::abs(v.ap_ort - v.ap_torch), 0.003) << what;
  // The bracket holds LibTorch's own AP, and is narrow for float: the engines
  // differ in the last float bits.
  EXPECT_LE(v.ap_lo, v.ap_torch);
  EXPECT_GE(v.ap_hi, v.ap_torch);
  if (!v.quantized) EXPECT_LE(v.score_eps, 1e-3) << what;
}

// Training-mode forwards of `batches` random images of `shape` (N, 3, H, W),
// so that every QAT observer has a step before export; eval mode after. Tiny
// models need several images: one batch of two 64 px images left an SE
// squeeze conv's ReLU output all zero about 1 run in 30 (then step 0 and a
// refused export; observed steps are now floored at float32's epsilon).
template <class M>
void observe_random_batches(M& model, const std::vector<int64_t>& shape, int batches = 3) {
  model->train();
  {
    torch::NoGradGuard g;
    for (int i = 0; i < batches; ++i) model->forward(torch::randn(shape));
  }
  model->eval();
}

// The recipe's SSDLite with random BN statistics, wrapped for QAT with
// `not_quant` left float, before any observation (steps still 0).
inline std::pair<compress::Detector, compress::quant::QuantReport> tiny_qat_ssd_unobserved(
    const compress::Config& cfg, std::vector<std::string> not_quant, bool quantize_outputs = true,
    bool round_after_activation = false) {
  auto model = compress::build_detector(cfg);
  randomize_bn(*model);
  compress::quant::QuantOptions qo;
  qo.not_quant_pattern = std::move(not_quant);
  qo.quantize_outputs = quantize_outputs;
  qo.round_after_activation = round_after_activation;
  auto rep = compress::quant::apply_qat(*model, qo);
  return {model, rep};
}

// The tiny SSDLite with se_block float, the rest QAT-wrapped, observed on
// random 96 px batches; eval mode.
inline std::pair<compress::Detector, compress::quant::QuantReport> tiny_qat_ssd(const compress::Config& cfg,
                                                                                bool quantize_outputs = true) {
  auto r = tiny_qat_ssd_unobserved(cfg, {"se_block"}, quantize_outputs);
  observe_random_batches(r.first, {2, 3, 96, 96});
  return r;
}

// The recipe's Cascade R-CNN at the tiny test size (64 px): at most 100
// proposals per FPN level and 120 in all, so that the cut over the levels (TopK
// with a data-dependent k) has something to cut and P2 alone cannot fill it.
// Anchors start at 16 px, so P2 proposals pool from RoI level 2 and the rest
// mostly from level 3 and up.
inline compress::Config tiny_cascade(const TempDir& d) {
  auto o = tiny_cascade_overrides(d, 64);
  o.push_back("FPNRPNHead.anchor_start_size=16");
  o.push_back("FPNRPNHead.test_proposal={pre_nms_top_n: 100, post_nms_top_n: 120}");
  return compress::load_config(source_path("configs/fashion/cascade_rcnn_mobilenet_v3_large_fpn.yml"), o);
}

}  // namespace testutil
