// Checkpoints: every parameter and buffer under its module path (so the file
// records each tensor's shape, and pruned models reload as they are), the
// optimizer state, the iteration, the RNG state and the config. Written
// atomically: a temp file in the same folder, then rename.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <string>

namespace compress {

struct TrainState {
  int64_t iter = 0;         // iterations completed
  double best_ap = -1;      // best eval AP so far (-1: none)
  std::string config_yaml;  // the merged config the run used
  std::string arch;         // "SSD", ...
  // JSON of what compress did to the float model ({"quant": {...}, "prune": {...}}),
  // so eval, infer, export and resume rebuild the same module tree. "" = plain float.
  std::string transforms;
};

// The state stored in a checkpoint, without loading any weights.
TrainState read_checkpoint_state(const std::string& path);

void save_checkpoint(const std::string& path, const torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainState& state);

// Loads weights into `model`. Every model tensor must be in the file with the
// same shape, and every file tensor in the model; the error names the first
// mismatched tensor and both shapes, or says QAT vs float when that is the cause.
// Returns the state stored with them.
TrainState load_weights(const std::string& path, torch::nn::Module& model);

// The arch that `compress pretrain` stores: a detector's backbone plus a
// classification head `fc`.
inline constexpr const char* kBackboneClassifierArch = "BackboneClassifier";

struct BackboneLoad {
  int64_t loaded = 0;  // backbone tensors copied into the model
  int64_t unused = 0;  // file backbone tensors the model lacks (a backbone cut short, as Cascade R-CNN's)
};

// Loads a `compress pretrain` checkpoint's `backbone.*` tensors into `model`'s
// `backbone.*`, leaving the rest of `model` (heads) as initialised. Every model
// backbone tensor must be in the file with the same shape; the error names it.
BackboneLoad load_backbone_weights(const std::string& path, torch::nn::Module& model);

// Weights plus optimizer state and the RNG state, for resuming.
TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer);

}  // namespace compress
