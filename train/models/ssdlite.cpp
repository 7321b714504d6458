#include "train/models/ssdlite.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/models/multiclass_nms.h"
#include "train/models/ssd/box_coder.h"
#include "train/util/error.h"

namespace compress {

SSDOptions ssd_options_from_config(const Config& cfg) {
  SSDOptions o;
  o.num_classes = cfg.get<int64_t>("num_classes");
  o.model_name = cfg.get<std::string>("MobileNetV3.model_name");
  o.scale = cfg.get<double>("MobileNetV3.scale");
  o.reduced_tail = cfg.get<bool>("MobileNetV3.reduced_tail");
  o.extra_block_filters.clear();
  for (const auto& f : cfg.get<std::vector<std::vector<int>>>("MobileNetV3.extra_block_filters")) {
    if (f.size() != 2) fail("MobileNetV3.extra_block_filters: each entry needs [mid, out], got ", f.size(), " values");
    o.extra_block_filters.push_back({f[0], f[1]});
  }
  const std::string h = "SSDLiteMultiBoxHead.";
  for (const auto& ar : cfg.get<std::vector<std::vector<double>>>(h + "aspect_ratios"))
    o.prior.aspect_ratios.push_back(ar);
  // The priors are fractions of the input size: by default the size EvalReader
  // resizes to, so changing the input is one key, not two that must agree.
  int64_t input = 0;
  for (const auto& t : cfg.at("EvalReader.sample_transforms"))
    if (t["type"].as<std::string>() == "ResizeImage") input = t["target_size"].as<int64_t>();
  o.prior.base_size = cfg.get<double>(h + "base_size");
  if (o.prior.base_size == 0) {
    if (input <= 0)
      fail(
          "SSDLiteMultiBoxHead.base_size is 0 (follow the input size) but EvalReader.sample_transforms has no "
          "ResizeImage: set base_size to the input size");
    o.prior.base_size = static_cast<double>(input);
  } else if (input > 0 && o.prior.base_size != static_cast<double>(input)) {
    spdlog::warn(
        "SSDLiteMultiBoxHead.base_size is {} but EvalReader resizes to {} px: the priors are sized for "
        "{} px inputs (leave base_size at 0 to follow the input size)",
        o.prior.base_size, input, o.prior.base_size);
  }
  o.prior.steps = cfg.get<std::vector<double>>(h + "steps");
  o.prior.flip = cfg.get<bool>(h + "flip");
  o.prior.min_ratio = cfg.get<double>(h + "min_ratio");
  o.prior.max_ratio = cfg.get<double>(h + "max_ratio");
  o.prior.size_rule = cfg.get<std::string>(h + "size_rule");
  o.prior.min_sizes = cfg.get<std::vector<double>>(h + "min_sizes");
  o.prior.max_sizes = cfg.get<std::vector<double>>(h + "max_sizes");
  o.prior.offset = cfg.get<double>(h + "offset");
  o.prior.clip = cfg.get<bool>(h + "clip");
  const std::string d = "SSD.output_decoder.";
  o.nms_threshold = cfg.get<double>(d + "nms_threshold");
  o.score_threshold = cfg.get<double>(d + "score_threshold");
  o.nms_top_k = cfg.get<int64_t>(d + "nms_top_k");
  o.keep_top_k = cfg.get<int64_t>(d + "keep_top_k");
  o.loss.overlap_threshold = cfg.get<double>("SSD.loss.overlap_threshold");
  o.loss.neg_pos_ratio = cfg.get<double>("SSD.loss.neg_pos_ratio");
  o.loss.neg_overlap = cfg.get<double>("SSD.loss.neg_overlap");
  return o;
}

SeparableHeadImpl::SeparableHeadImpl(int64_t in, int64_t out) {
  dw = register_module("dw", ConvBNLayer(ConvBNOptions(in, in, 3, 1, in, Act::ReLU6)));
  pw = register_module("pw", ConvBNLayer(ConvBNOptions(in, out, 1, 1, 1, Act::None, /*bn=*/false)));
}

torch::Tensor SeparableHeadImpl::forward(const torch::Tensor& x) { return pw->forward(dw->forward(x)); }

ExtraBlockImpl::ExtraBlockImpl(int64_t in, int64_t mid, int64_t out) {
  conv1 = register_module("conv1", ConvBNLayer(ConvBNOptions(in, mid, 1, 1, 1, Act::ReLU6)));
  dw = register_module("dw", ConvBNLayer(ConvBNOptions(mid, mid, 3, 2, mid, Act::ReLU6)));
  conv2 = register_module("conv2", ConvBNLayer(ConvBNOptions(mid, out, 1, 1, 1, Act::ReLU6)));
}

torch::Tensor ExtraBlockImpl::forward(const torch::Tensor& x) { return conv2->forward(dw->forward(conv1->forward(x))); }

SSDLiteImpl::SSDLiteImpl(const SSDOptions& o) : opt(o) {
  num_classes = o.num_classes;
  if (o.num_classes < 1) fail("num_classes must be >= 1, got ", o.num_classes);
  backbone = register_module("backbone", MobileNetV3(o.model_name, o.scale, 32, o.reduced_tail));
  extra_blocks = register_module("extra_blocks", torch::nn::ModuleList());
  std::vector<int64_t> channels = backbone->out_channels;
  int64_t in = channels.back();
  for (const auto& f : o.extra_block_filters) {
    extra_blocks->push_back(ExtraBlock(in, f[0], f[1]));
    channels.push_back(f[1]);
    in = f[1];
  }
  const auto per_loc = priors_per_location(o.prior);
  if (per_loc.size() != channels.size())
    fail("SSDLiteMultiBoxHead.aspect_ratios has ", per_loc.size(), " entries but the model has ", channels.size(),
         " feature maps (2 backbone taps + ", o.extra_block_filters.size(), " extra blocks)");
  loc = register_module("loc", torch::nn::ModuleList());
  conf = register_module("conf", torch::nn::ModuleList());
  for (size_t i = 0; i < channels.size(); ++i) {
    loc->push_back(SeparableHead(channels[i], per_loc[i] * 4));
    conf->push_back(SeparableHead(channels[i], per_loc[i] * (o.num_classes + 1)));
  }
}

torch::Tensor SSDLiteImpl::priors_for(const std::vector<std::pair<int64_t, int64_t>>& fmaps, int64_t h, int64_t w) {
  std::vector<int64_t> key = {h, w};
  for (const auto& [a, b] : fmaps) key.insert(key.end(), {a, b});
  std::lock_guard<std::mutex> lock(priors_mu_);
  auto it = priors_cache_.find(key);
  if (it == priors_cache_.end()) it = priors_cache_.emplace(key, make_priors(opt.prior, fmaps, h, w)).first;
  return it->second;
}

std::vector<torch::Tensor> SSDLiteImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "SSDLite: expected (N, 3, H, W) images, got ", images.sizes());
  std::vector<torch::Tensor> feats = backbone->forward(images);
  torch::Tensor x = feats.back();
  for (const auto& m : *extra_blocks) {
    x = m->as<ExtraBlock>()->forward(x);
    feats.push_back(x);
  }
  const int64_t N = images.size(0);
  std::vector<torch::Tensor> locs, confs;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (size_t i = 0; i < feats.size(); ++i) {
    sizes.emplace_back(feats[i].size(2), feats[i].size(3));
    // (N, A_i*4, H, W) -> (N, H, W, A_i*4) -> (N, H*W*A_i, 4): the priors' order.
    locs.push_back(loc[i]->as<SeparableHead>()->forward(feats[i]).permute({0, 2, 3, 1}).reshape({N, -1, 4}));
    confs.push_back(
        conf[i]->as<SeparableHead>()->forward(feats[i]).permute({0, 2, 3, 1}).reshape({N, -1, num_classes + 1}));
  }
  return {torch::cat(locs, 1), torch::cat(confs, 1), priors_for(sizes, images.size(2), images.size(3))};
}

LossTerms SSDLiteImpl::loss(const std::vector<torch::Tensor>& out, const Batch& batch) {
  const double H = batch.images.size(2), W = batch.images.size(3);
  // Targets in normalized coordinates, as the priors are.
  const auto scale = torch::tensor({1.0 / W, 1.0 / H, 1.0 / W, 1.0 / H}, torch::kFloat32);
  const auto gt = batch.boxes.to(torch::kCPU) * scale;
  const auto l = multibox_loss(out[0], out[1], out[2], gt, batch.labels.to(torch::kCPU),
                               batch.num_boxes.to(torch::kCPU), opt.loss);
  return {l.loc + l.conf, {{"loc", l.loc}, {"conf", l.conf}}};
}

std::vector<ImageDetections> SSDLiteImpl::postprocess(const std::vector<torch::Tensor>& out, int64_t in_h,
                                                      int64_t in_w) {
  torch::NoGradGuard no_grad;
  const auto boxes = decode_boxes(out[0].to(torch::kCPU).to(torch::kFloat32), out[2].unsqueeze(0));  // (N, A, 4)
  const auto scores = torch::softmax(out[1].to(torch::kCPU).to(torch::kFloat32), -1);                // (N, A, C+1)
  const auto scale = torch::tensor(
      {static_cast<float>(in_w), static_cast<float>(in_h), static_cast<float>(in_w), static_cast<float>(in_h)});
  MultiClassNmsOptions nms_opt{opt.score_threshold, opt.nms_threshold, opt.nms_top_k, opt.keep_top_k};
  std::vector<ImageDetections> result(boxes.size(0));
  for (int64_t i = 0; i < boxes.size(0); ++i)  // class 0 is the background: labels are columns 1..C
    result[i] = multiclass_nms(boxes[i] * scale, scores[i].slice(1, 1), in_h, in_w, nms_opt);
  return result;
}

}  // namespace compress
