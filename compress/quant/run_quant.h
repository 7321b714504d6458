// `compress quant`: QAT (train the fake-quantized model with the recipe's
// schedule, shortened by the `quant` section) or PTQ (--post: calibrate the
// activation scales on a few batches, no training). Both save a QAT checkpoint
// that eval, infer and export rebuild.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "compress/quant/ptq.h"
#include "compress/quant/qat.h"

namespace compress {
class Config;
}

namespace compress::quant {

struct QuantRunOptions {
  bool eval = false;                                          // evaluate at snapshots / after calibration
  bool post = false;                                          // PTQ instead of QAT
  std::string resume;                                         // a QAT latest.pt
  std::string run_dir;                                        // default: save_dir/<stem>_quant (or _ptq)
  std::optional<std::vector<std::string>> not_quant_pattern;  // overrides quant.not_quant_pattern
};

struct QuantRunResult {
  QuantReport report;
  std::string run_dir;
  double ap = -1;  // final eval AP when evaluated
};

QuantRunResult run_quant(Config cfg, const QuantRunOptions& o);

}  // namespace compress::quant
