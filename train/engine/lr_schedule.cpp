#include "train/engine/lr_schedule.h"

#include <cmath>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

LRSchedule LRSchedule::from_config(const Config& cfg) {
  LRSchedule s;
  s.base_lr = cfg.get<double>("LearningRate.base_lr");
  const auto scheds = cfg.at("LearningRate.schedulers");
  for (const auto& sc : scheds) {
    const std::string type = sc["type"].as<std::string>();
    if (type == "CosineDecay") {
      if (s.decay != Decay::None) fail("LearningRate.schedulers: more than one decay");
      s.decay = Decay::Cosine;
      s.cosine_iters = sc["max_iters"].as<int64_t>();
      if (s.cosine_iters <= 0) s.cosine_iters = cfg.get<int64_t>("max_iters");
    } else if (type == "PiecewiseDecay") {
      if (s.decay != Decay::None) fail("LearningRate.schedulers: more than one decay");
      s.decay = Decay::Piecewise;
      s.gamma = sc["gamma"].as<double>();
      s.milestones = sc["milestones"].as<std::vector<int64_t>>();
    } else if (type == "LinearWarmup") {
      s.warmup_start_factor = sc["start_factor"].as<double>();
      s.warmup_steps = sc["steps"].as<int64_t>();
    }
  }
  return s;
}

double LRSchedule::lr(int64_t iter) const {
  // Warm-up ramps from start_factor * base_lr to base_lr (fluid's linear_lr_warmup).
  if (iter < warmup_steps)
    return base_lr * (warmup_start_factor + (1.0 - warmup_start_factor) * static_cast<double>(iter) / warmup_steps);
  switch (decay) {
    case Decay::Cosine: {
      const double t = std::min<double>(iter, cosine_iters);
      return base_lr * 0.5 * (std::cos(M_PI * t / cosine_iters) + 1.0);
    }
    case Decay::Piecewise: {
      double f = 1.0;
      for (int64_t m : milestones)
        if (iter >= m) f *= gamma;
      return base_lr * f;
    }
    case Decay::None:
      break;
  }
  return base_lr;
}

}  // namespace compress
