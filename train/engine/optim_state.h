// One walk over an optimizer's per-parameter state tensors (SGD momentum, Adam
// and AdamW moments, RMSprop and Adagrad sums), for the code that must change
// them with their parameters: pruning slices them, GPU training moves them.
#pragma once
#include <torch/types.h>

#include <functional>

namespace torch::optim {
class Optimizer;
struct OptimizerParamState;
}  // namespace torch::optim

namespace compress {

// f(param, state) returns the state tensor's replacement (undefined states are
// passed through untouched). An optimizer type without known state is an error.
void map_optimizer_state(torch::optim::Optimizer& opt,
                         const std::function<torch::Tensor(const torch::Tensor& param, const torch::Tensor& state)>& f);

// The optimizer's state for parameter p, or nullptr before its first step.
// PyTorch keys that state by the TensorImpl's address: as a string before
// PyTorch 2, as the pointer after.
torch::optim::OptimizerParamState* optimizer_param_state(torch::optim::Optimizer& opt, const torch::Tensor& p);

}  // namespace compress
