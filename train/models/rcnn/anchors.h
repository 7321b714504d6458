// FPN anchors (the reference's anchor_generator, one size per level): at level
// l the stride is 2^l and the size anchor_start_size * 2^(l - min_level); each
// cell gets one anchor per aspect ratio (h / w), centred on the cell.
#pragma once
#include <torch/types.h>

#include <vector>

namespace compress {

// -> (H * W * A, 4) xyxy input pixels, ordered (y, x, ratio): the order of an
// RPN map (N, A, H, W) permuted to (N, H, W, A) and flattened.
torch::Tensor level_anchors(int64_t height, int64_t width, double stride, double size,
                            const std::vector<double>& aspect_ratios);

}  // namespace compress
