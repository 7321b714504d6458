// Shared by the export tests: random BN statistics, so that folding is exercised.
#pragma once
#include <torch/torch.h>

namespace testutil {

// Fresh BN is the identity; random running statistics and scales make the
// folded conv differ from the raw one. Detector class logits are spread too: an
// untrained head scores every box ~1/C, and the order of such ties (hence AP)
// would hang on the last float bit.
inline void randomize_bn(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& b : m.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.2, 0.2);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
  for (auto& p : m.named_parameters()) {
    if (p.key().find("bn.weight") != std::string::npos) p.value().uniform_(0.5, 1.5);
    if (p.key().rfind("conf.", 0) == 0 && p.key().find(".pw.conv.weight") != std::string::npos) p.value().mul_(30);
    if (p.key().rfind("yolo_output.", 0) == 0 && p.key().find(".conv.weight") != std::string::npos) p.value().mul_(30);
  }
}

}  // namespace testutil
