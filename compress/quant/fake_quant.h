// Symmetric fake quantization: q(x) = clamp(round(x / s), -Q, Q) * s with
// Q = 2^(bits-1) - 1, forward through ATen's fake_quantize ops, backward
// straight-through (the gradient passes unchanged, as the reference's
// fake_quantize_dequantize gradient kernels do).
#pragma once
#include <torch/types.h>

namespace compress::quant {

inline int64_t qmax_for_bits(int64_t bits) { return (int64_t{1} << (bits - 1)) - 1; }

// scale: a 1-element tensor (per tensor, axis = -1) or one scale per slice along
// `axis` (per channel). Scales are the quantization step (max|x| / Q), clamped
// away from zero.
torch::Tensor fake_quant(const torch::Tensor& x, const torch::Tensor& scale, int64_t axis, int64_t bits);

// max|W_c| / Q per output channel: (O, ...) -> (O).
torch::Tensor channel_scales(const torch::Tensor& w, int64_t bits);
// max|W| / Q: -> (1).
torch::Tensor tensor_scale(const torch::Tensor& w, int64_t bits);

}  // namespace compress::quant
