#include "train/engine/optimizer.h"

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <map>
#include <regex>

#include "train/config/config.h"
#include "train/util/error.h"

namespace compress {

std::vector<ParamGroupSpec> make_param_groups(const torch::nn::Module& model, const Config& cfg) {
  const bool l2 = cfg.get<std::string>("OptimizerBuilder.regularizer.type") == "L2";
  const double factor = l2 ? cfg.get<double>("OptimizerBuilder.regularizer.factor") : 0.0;
  // The MobileNetV3 section's conv_decay and lr_mult_list apply only where the
  // backbone is a MobileNetV3 (SSDLite and Cascade R-CNN always; YOLOv3 when it says so).
  const std::string arch = cfg.get<std::string>("architecture");
  const bool mnv3 = arch == "SSD" || arch == "CascadeRCNN" ||
                    (arch == "YOLOv3" && cfg.get<std::string>("YOLOv3.backbone") == "MobileNetV3");
  const double conv_decay = mnv3 ? cfg.get<double>("MobileNetV3.conv_decay") : 0.0;
  const auto lr_mults = mnv3 ? cfg.get<std::vector<double>>("MobileNetV3.lr_mult_list") : std::vector<double>{};
  // backbone.blocks.{i}. -> multiplier index min(i / 3, n - 1), as the reference counts stages.
  static const std::regex block_re(R"(^backbone\.blocks\.(\d+)\.)");
  const int64_t n_blocks = [&] {
    int64_t n = 0;
    for (const auto& p : model.named_parameters()) {
      std::smatch m;
      if (std::regex_search(p.key(), m, block_re)) n = std::max<int64_t>(n, std::stoll(m[1]) + 1);
    }
    return n;
  }();
  std::map<std::pair<double, double>, ParamGroupSpec> groups;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const std::string& name = p.key();
    double mult = 1.0;
    if (!lr_mults.empty() && name.rfind("backbone.", 0) == 0) {
      int64_t stage = 0;  // conv1
      std::smatch m;
      if (std::regex_search(name, m, block_re))
        stage = std::stoll(m[1]);
      else if (name.rfind("backbone.conv_last.", 0) == 0)
        stage = n_blocks;
      mult = lr_mults[std::min<size_t>(static_cast<size_t>(stage / 3), lr_mults.size() - 1)];
    }
    double decay = factor;
    if (name.find(".bn.") != std::string::npos) {
      decay = 0.0;  // the reference puts no decay on BN scale and shift
    } else if (conv_decay > 0 && name.size() > 12 && name.compare(name.size() - 12, 12, ".conv.weight") == 0) {
      decay = conv_decay;
    }
    auto& g = groups[{mult, decay}];
    g.lr_mult = mult;
    g.weight_decay = decay;
    g.names.push_back(name);
    g.params.push_back(p.value());
  }
  std::vector<ParamGroupSpec> out;
  for (auto& kv : groups) out.push_back(std::move(kv.second));
  return out;
}

OptimizerBundle make_optimizer(const torch::nn::Module& model, const Config& cfg) {
  OptimizerBundle b;
  b.groups = make_param_groups(model, cfg);
  if (b.groups.empty()) fail("the model has no trainable parameters");
  b.clip_grad_norm = cfg.get<double>("OptimizerBuilder.clip_grad_norm");
  const double lr = cfg.get<double>("LearningRate.base_lr");
  const std::string type = cfg.get<std::string>("OptimizerBuilder.optimizer.type");
  std::vector<torch::optim::OptimizerParamGroup> pg;
  if (type == "Momentum") {
    const double mom = cfg.get<double>("OptimizerBuilder.optimizer.momentum");
    for (const auto& g : b.groups)
      pg.emplace_back(g.params,
                      std::make_unique<torch::optim::SGDOptions>(
                          torch::optim::SGDOptions(lr * g.lr_mult).momentum(mom).weight_decay(g.weight_decay)));
    b.optimizer = std::make_unique<torch::optim::SGD>(pg, torch::optim::SGDOptions(lr).momentum(mom));
  } else {
    const double b1 = cfg.get<double>("OptimizerBuilder.optimizer.beta1");
    const double b2 = cfg.get<double>("OptimizerBuilder.optimizer.beta2");
    const double eps = cfg.get<double>("OptimizerBuilder.optimizer.epsilon");
    for (const auto& g : b.groups)
      pg.emplace_back(
          g.params,
          std::make_unique<torch::optim::AdamOptions>(
              torch::optim::AdamOptions(lr * g.lr_mult).betas({b1, b2}).eps(eps).weight_decay(g.weight_decay)));
    b.optimizer = std::make_unique<torch::optim::Adam>(pg, torch::optim::AdamOptions(lr));
  }
  return b;
}

void OptimizerBundle::set_lr(double lr) {
  auto& pgs = optimizer->param_groups();
  for (size_t i = 0; i < pgs.size(); ++i) pgs[i].options().set_lr(lr * groups[i].lr_mult);
}

}  // namespace compress
