#include "train/models/ssd/prior_box.h"

#include <torch/torch.h>

#include <cmath>

#include "train/util/error.h"

namespace compress {

std::vector<double> expand_aspect_ratios(const std::vector<double>& ars, bool flip) {
  std::vector<double> out = {1.0};
  for (double ar : ars) {
    bool dup = false;
    for (double e : out) dup = dup || std::fabs(ar - e) < 1e-6;
    if (dup) continue;
    out.push_back(ar);
    if (flip) out.push_back(1.0 / ar);
  }
  return out;
}

std::pair<std::vector<double>, std::vector<double>> ssd_min_max_sizes(const PriorBoxOptions& o, int num_maps) {
  if (!o.min_sizes.empty() || !o.max_sizes.empty()) {
    if (static_cast<int>(o.min_sizes.size()) != num_maps || static_cast<int>(o.max_sizes.size()) != num_maps)
      fail("SSDLiteMultiBoxHead.min_sizes / max_sizes have ", o.min_sizes.size(), " / ", o.max_sizes.size(),
           " entries for ", num_maps, " feature maps");
    for (int m = 0; m < num_maps; ++m)
      if (!(o.min_sizes[m] > 0 && o.max_sizes[m] >= o.min_sizes[m]))
        fail("SSDLiteMultiBoxHead: feature map ", m, " has min_size ", o.min_sizes[m], " and max_size ", o.max_sizes[m],
             " (need 0 < min_size <= max_size)");
    return {o.min_sizes, o.max_sizes};
  }
  if (num_maps < 3) fail("SSD prior boxes need at least 3 feature maps, got ", num_maps);
  if (o.size_rule == "linspace") {
    // torchvision: scales = linspace(min, max, m) + [1.0]; map k: s_k and s_{k+1}.
    std::vector<double> ratio;
    for (int k = 0; k < num_maps; ++k) ratio.push_back(o.min_ratio + (o.max_ratio - o.min_ratio) * k / (num_maps - 1));
    ratio.push_back(100.0);
    std::vector<double> mins, maxs;
    for (int k = 0; k < num_maps; ++k) {
      mins.push_back(o.base_size * ratio[k] / 100.0);
      maxs.push_back(o.base_size * ratio[k + 1] / 100.0);
    }
    return {mins, maxs};
  }
  if (o.size_rule != "reference") fail("SSDLiteMultiBoxHead.size_rule '", o.size_rule, "': use reference or linspace");
  const int step = static_cast<int>(std::floor((o.max_ratio - o.min_ratio) / (num_maps - 2)));
  std::vector<double> mins = {o.base_size * 0.10}, maxs = {o.base_size * 0.20};
  for (int r = static_cast<int>(o.min_ratio); r <= static_cast<int>(o.max_ratio); r += step) {
    mins.push_back(o.base_size * r / 100.0);
    maxs.push_back(o.base_size * (r + step) / 100.0);
  }
  if (static_cast<int>(mins.size()) != num_maps)
    fail("min_ratio ", o.min_ratio, " / max_ratio ", o.max_ratio, " give ", mins.size(), " prior sizes for ", num_maps,
         " feature maps");
  return {mins, maxs};
}

std::vector<int64_t> priors_per_location(const PriorBoxOptions& o) {
  std::vector<int64_t> n;
  for (const auto& ars : o.aspect_ratios)
    n.push_back(static_cast<int64_t>(expand_aspect_ratios(ars, o.flip).size()) + 1);
  return n;
}

torch::Tensor make_priors(const PriorBoxOptions& o, const std::vector<std::pair<int64_t, int64_t>>& fmap_sizes,
                          int64_t img_h, int64_t img_w) {
  const int num_maps = static_cast<int>(fmap_sizes.size());
  if (static_cast<int>(o.aspect_ratios.size()) != num_maps)
    fail("aspect_ratios has ", o.aspect_ratios.size(), " entries for ", num_maps, " feature maps");
  if (!o.steps.empty() && static_cast<int>(o.steps.size()) != num_maps)
    fail("steps has ", o.steps.size(), " entries for ", num_maps, " feature maps");
  const auto [mins, maxs] = ssd_min_max_sizes(o, num_maps);
  std::vector<float> out;
  for (int m = 0; m < num_maps; ++m) {
    const auto [fh, fw] = fmap_sizes[m];
    const double step_h = o.steps.empty() ? static_cast<double>(img_h) / fh : o.steps[m];
    const double step_w = o.steps.empty() ? static_cast<double>(img_w) / fw : o.steps[m];
    const auto ars = expand_aspect_ratios(o.aspect_ratios[m], o.flip);
    for (int64_t y = 0; y < fh; ++y)
      for (int64_t x = 0; x < fw; ++x) {
        const double cx = (x + o.offset) * step_w, cy = (y + o.offset) * step_h;
        auto push = [&](double bw, double bh) {  // half sizes
          float v[4] = {static_cast<float>((cx - bw) / img_w), static_cast<float>((cy - bh) / img_h),
                        static_cast<float>((cx + bw) / img_w), static_cast<float>((cy + bh) / img_h)};
          for (float& c : v)
            if (o.clip) c = std::min(std::max(c, 0.f), 1.f);
          out.insert(out.end(), v, v + 4);
        };
        for (double ar : ars) push(mins[m] * std::sqrt(ar) / 2, mins[m] / std::sqrt(ar) / 2);
        const double s = std::sqrt(mins[m] * maxs[m]) / 2;
        push(s, s);
      }
  }
  return torch::tensor(out, torch::kFloat32).view({-1, 4});
}

}  // namespace compress
