// Channel importance: one score per output channel of a conv weight; the
// lowest-scoring channels are removed. A factory, not a registry: the list of
// names lives in make_criterion.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace compress::prune {

// weight (O, I, kh, kw) -> scores (O)
using Criterion = std::function<at::Tensor(const at::Tensor& weight)>;

// "l1_norm": score_i = sum |W_i|.
// "geometry_median" (FPGM, He et al. CVPR 2019, eq. 6): score_i = sum_j ||F_i - F_j||_2,
// filters flattened; the filters nearest the geometric median go first.
Criterion make_criterion(const std::string& name);
const std::vector<std::string>& criterion_names();

// The channels to keep, ascending: all but the `remove` lowest scores (ties
// broken by lower index first, so the result is deterministic).
std::vector<int64_t> kept_channels(const at::Tensor& scores, int64_t remove);

}  // namespace compress::prune
