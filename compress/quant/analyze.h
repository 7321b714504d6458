// Per-layer quantization sensitivity (PaddleSlim's quant analysis, AIMET's
// per-layer analysis): which convs' int8 error costs the most AP, so that
// --not_quant_pattern names the right ones. After PTQ calibration of every conv
// the options quantize, each quantized conv in turn is measured one of two
// ways (AIMET's two per-layer analyses):
//   float_one: it runs float while all the others stay int8; the AP that
//              recovers over the all-int8 model is its sensitivity;
//   quant_one: it alone runs int8, all the others float; the AP it loses
//              against the float model is its sensitivity (one error source at
//              a time, so less noise from the others').
// The most sensitive convs are then kept float together, 1, 2, 4, ... at a
// time with every other conv int8, to show what a skip list buys.
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
  std::string mode = "float_one";   // or quant_one
};

const std::vector<std::string>& analysis_modes();  // float_one, quant_one

struct LayerSensitivity {
  std::string conv;  // e.g. backbone.blocks.4.res_conv1.conv
  double ap = 0;     // float_one: AP with this conv float, the others quantized; quant_one: the reverse
  // AP points this conv accounts for: float_one ap - quant_ap (recovered by
  // keeping it float), quant_one float_ap - ap (lost by quantizing it alone).
  double sensitivity = 0;
};

struct CumulativeFloat {
  std::vector<std::string> convs;  // the k most sensitive convs, all float
  double ap = 0;
};

struct QuantAnalysis {
  std::string mode = "float_one";
  double float_ap = 0;
  double quant_ap = 0;                      // every conv the options quantize, at their bits (int8 by default)
  int64_t eval_images = 0;                  // EvalReader's images (EvalReader.dataset.sample_num limits them)
  std::vector<LayerSensitivity> layers;     // module order
  std::vector<CumulativeFloat> cumulative;  // k = 1, 2, 4, ... convs float
  // --not_quant_pattern for the cumulative row with the best AP (the patterns
  // given, then that row's conv paths); empty when no row beats all-quantized.
  std::vector<std::string> suggested_pattern;
  std::string json, png;  // where they were written
};

// The --not_quant_pattern list that keeps the best cumulative row's convs
// float, after the patterns the analysis already skipped (`skipped`): empty
// when no row beats the all-quantized model, or when a conv's full path, as a
// substring pattern, would also select another of the `quantized` convs.
std::vector<std::string> suggest_patterns(const QuantAnalysis& a, const std::vector<std::string>& skipped,
                                          const std::vector<std::string>& quantized);

// Analyses the float weights in cfg's pretrain_weights. Writes RUN_DIR/
// quant_analysis.json after every conv; a rerun of the same weights, quantizers,
// patterns, calibration and evaluation data reuses the convs already measured
// (a killed run resumes). Under a launcher the ranks share the evaluations;
// rank 0 writes and prints (the other ranks' result lacks the suggestion).
QuantAnalysis run_quant_analysis(Config cfg, const QuantAnalyzeOptions& o);

// The markdown table printed at the end: the convs that recover the most, then
// the cumulative rows.
std::string analysis_table(const QuantAnalysis& a, size_t top = 10);

}  // namespace compress::quant
