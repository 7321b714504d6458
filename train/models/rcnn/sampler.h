// Balanced random sampling of labelled candidates (anchors for the RPN, RoIs
// for the box heads), as the reference's rpn_target_assign and
// generate_proposal_labels: at most num * fg_fraction foregrounds, the rest
// backgrounds. Draws from torch's global generator, so a seeded run repeats.
#pragma once
#include <torch/types.h>

namespace compress {

// labels (K) int64: > 0 foreground, 0 background, < 0 ignored. Returns a copy in
// which the candidates left out of the sample are -1.
torch::Tensor sample_balanced(const torch::Tensor& labels, int64_t num, double fg_fraction);

}  // namespace compress
