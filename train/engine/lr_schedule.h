// Learning-rate schedules of the reference: cosine decay and piecewise decay,
// each optionally with a linear warm-up towards the base LR.
#pragma once
#include <cstdint>
#include <vector>

namespace compress {
class Config;

struct LRSchedule {
  double base_lr = 0.01;
  enum class Decay { None, Cosine, Piecewise } decay = Decay::None;
  int64_t cosine_iters = 0;
  double gamma = 0.1;
  std::vector<int64_t> milestones;
  double warmup_start_factor = 1.0;
  int64_t warmup_steps = 0;

  static LRSchedule from_config(const Config& cfg);
  double lr(int64_t iter) const;  // iter counts from 0
};

}  // namespace compress
