// Per-layer quantization sensitivity (PaddleSlim's quant analysis, AIMET's
// per-layer analysis): which convs' int8 error costs the most AP, so that
// --not_quant_pattern names the right ones. After PTQ calibration of every conv
// the options quantize, each quantized conv in turn runs float while all the
// others stay int8, and the AP that recovers is recorded. The convs that
// recover the most are then kept float together, 1, 2, 4, ... at a time, to
// show what a skip list buys.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace compress {
class Config;
}

namespace compress::quant {

struct QuantAnalyzeOptions {
  std::string run_dir;                                        // default: save_dir/<config name>_quant_analysis
  std::optional<std::vector<std::string>> not_quant_pattern;  // overrides quant.not_quant_pattern
  std::vector<std::string> layers;  // substrings of conv paths to analyse; empty: every quantized conv
};

struct LayerSensitivity {
  std::string conv;  // e.g. backbone.blocks.4.res_conv1.conv
  double ap = 0;     // AP with this conv float and every other one quantized
  double recovered = 0;  // ap - quant_ap
};

struct CumulativeFloat {
  std::vector<std::string> convs;  // the k most sensitive convs, all float
  double ap = 0;
};

struct QuantAnalysis {
  double float_ap = 0;
  double quant_ap = 0;  // every conv the options quantize, at their bits (int8 by default)
  int64_t eval_images = 0;  // EvalReader's images (EvalReader.dataset.sample_num limits them)
  std::vector<LayerSensitivity> layers;     // module order
  std::vector<CumulativeFloat> cumulative;  // k = 1, 2, 4, ... convs float
  std::string json, png;                    // where they were written
};

// Analyses the float weights in cfg's pretrain_weights. Writes RUN_DIR/
// quant_analysis.json after every conv; a rerun of the same weights, quantizers,
// patterns, calibration and evaluation data reuses the convs already measured
// (a killed run resumes).
QuantAnalysis run_quant_analysis(Config cfg, const QuantAnalyzeOptions& o);

// The markdown table printed at the end: the convs that recover the most, then
// the cumulative rows.
std::string analysis_table(const QuantAnalysis& a, size_t top = 10);

}  // namespace compress::quant
