// Building a DependencyGraph: one forward pass of the model on a zero input,
// with gradients on, then a walk of the autograd graph from the outputs.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "compress/prune/graph.h"

namespace compress::prune {

using ForwardFn = std::function<std::vector<at::Tensor>(const at::Tensor&)>;

// `forward` runs the model (in eval mode; the caller's mode is restored) on an
// input of `input_shape`, e.g. {1, 3, 320, 320}. Parameters are named by
// `model.named_parameters()`.
DependencyGraph trace_graph(torch::nn::Module& model, const ForwardFn& forward,
                            const std::vector<int64_t>& input_shape);

}  // namespace compress::prune
