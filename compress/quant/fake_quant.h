// Fake quantization: q(x) = clamp(round(x / s), lo, hi) * s, rounding half to
// even (as ONNX QuantizeLinear and torch.ao), backward straight-through (the
// gradient passes unchanged, as the reference's fake_quantize_dequantize
// gradient kernels do).
//   weights:     symmetric, [-Q, Q] with Q = 2^(bits-1) - 1 (the reference's grid)
//   activations: the int8 grid [-Q-1, Q] (what uint8 with zero point 128 holds,
//                and torch.ao's quint8/qint8), or [0, 2^bits - 1] after ReLU
#pragma once
#include <torch/types.h>

#include <utility>

namespace compress::quant {

inline int64_t qmax_for_bits(int64_t bits) { return (int64_t{1} << (bits - 1)) - 1; }

// scale: a 1-element tensor (per tensor, axis = -1) or one scale per slice along
// `axis` (per channel). Scales are the quantization step (max|x| / Q), clamped
// away from zero.
torch::Tensor fake_quant(const torch::Tensor& x, const torch::Tensor& scale, int64_t axis, int64_t bits);

// Activations, per tensor: signed [-2^(bits-1), 2^(bits-1) - 1] steps, or
// unsigned [0, 2^bits - 1]. scale: (1) or a 0-dim tensor.
torch::Tensor fake_quant_act(const torch::Tensor& x, const torch::Tensor& scale, int64_t bits, bool non_negative);
// The step range fake_quant_act uses: {lo, hi}.
std::pair<int64_t, int64_t> act_range(int64_t bits, bool non_negative);

// max|W_c| / Q per output channel: (O, ...) -> (O).
torch::Tensor channel_scales(const torch::Tensor& w, int64_t bits);
// max|W| / Q: -> (1).
torch::Tensor tensor_scale(const torch::Tensor& w, int64_t bits);

}  // namespace compress::quant
