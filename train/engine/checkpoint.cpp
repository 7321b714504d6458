#include "train/engine/checkpoint.h"

#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <sstream>

#include "train/models/backbone_classifier.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"
#include "train/util/zip_check.h"

namespace compress {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("checkpoint '", path, "' does not exist");
  verify_zip_crcs(path, "checkpoint");
  torch::serialize::InputArchive in;
  try {
    in.load_from(path);
  } catch (const c10::Error& e) {
    fail("cannot read checkpoint '", path, "': truncated, corrupt or not a compress checkpoint (",
         std::string(e.what_without_backtrace()).substr(0, 160), ")");
  }
  return in;
}

TrainState read_state(torch::serialize::InputArchive& in) {
  TrainState s;
  c10::IValue v;
  if (in.try_read("meta.iter", v)) s.iter = v.toInt();
  if (in.try_read("meta.best_ap", v)) s.best_ap = v.toDouble();
  if (in.try_read("meta.config", v)) s.config_yaml = v.toStringRef();
  if (in.try_read("meta.arch", v)) s.arch = v.toStringRef();
  if (in.try_read("meta.transforms", v)) s.transforms = v.toStringRef();
  return s;
}

bool is_quant_tensor(const std::string& name) { return name.find("_quant.") != std::string::npos; }

}  // namespace

void save_checkpoint(const std::string& path, const torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainState& state) {
  torch::NoGradGuard no_grad;
  torch::serialize::OutputArchive out;
  for (const auto& p : model.named_parameters()) out.write("model." + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers()) out.write("model." + b.key(), b.value().cpu(), /*is_buffer=*/true);
  if (optimizer) {
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    out.write("optimizer", opt);
  }
  out.write("meta.iter", c10::IValue(state.iter));
  out.write("meta.best_ap", c10::IValue(state.best_ap));
  out.write("meta.config", c10::IValue(state.config_yaml));
  out.write("meta.arch", c10::IValue(state.arch));
  out.write("meta.transforms", c10::IValue(state.transforms));
  out.write("meta.rng", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  // Serialized to memory first: LibTorch's file writer throws from a
  // destructor when the disk fills (an abort, not an error). The bytes then go
  // through the checked, fsync'ed temp-file-and-rename writer, so a failed
  // save keeps the previous checkpoint.
  std::string bytes;
  try {
    out.save_to([&bytes](const void* data, size_t n) -> size_t {
      bytes.append(static_cast<const char*>(data), n);
      return n;
    });
  } catch (const c10::Error& e) {
    fail("cannot serialize checkpoint '", path, "': ", e.what_without_backtrace());
  }
  write_file_atomic(path, bytes);
}

TrainState load_weights(const std::string& path, torch::nn::Module& model) {
  auto in = open_archive(path);
  if (read_state(in).arch == kBackboneClassifierArch && !dynamic_cast<const BackboneClassifierImpl*>(&model))
    fail("checkpoint '", path,
         "' is a backbone pretrained by `compress pretrain`, not a detector: train the "
         "detector from it first (`compress train -c RECIPE -o pretrain_weights=",
         path, "`)");
  torch::NoGradGuard no_grad;
  auto load_one = [&](const std::string& name, torch::Tensor& dst, bool is_buffer) {
    torch::Tensor t;
    if (!in.try_read("model." + name, t, is_buffer)) {
      torch::Tensor old_scale;
      if (name.find("_quant.plan_") != std::string::npos &&
          in.try_read("model." + name.substr(0, name.find("plan_")) + "act_scale", old_scale, true))
        fail("checkpoint '", path, "' is a QAT checkpoint from before quantization plans (no '", name,
             "'): re-run `compress quant` from its float weights");
      if (is_quant_tensor(name))
        fail("checkpoint '", path, "' is a float checkpoint but the model is quantized (no '", name,
             "'): start QAT from it with `compress quant -o pretrain_weights=...`, or resume a QAT run from a "
             "QAT checkpoint");
      fail("checkpoint '", path, "' has no tensor '", name, "' (is it for another architecture?)");
    }
    if (t.sizes() != dst.sizes())
      fail("checkpoint '", path, "': tensor '", name, "' has shape ", shape_str(t), " but the model expects ",
           shape_str(dst), " (another architecture, num_classes or pruning?)");
    dst.copy_(t);
  };
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (const auto& key : in.keys()) {  // the reverse direction: nothing in the file may go unused
    if (key.rfind("model.", 0) != 0) continue;
    const std::string name = key.substr(6);
    if (params.contains(name) || buffers.contains(name)) continue;
    if (is_quant_tensor(name))
      fail("checkpoint '", path, "' is a QAT checkpoint (it holds '", name, "') but the model is float: ",
           "eval, infer and export rebuild the QAT model from the checkpoint itself; to train on, use "
           "`compress quant -r`");
    fail("checkpoint '", path, "' has tensor '", name, "' that the model lacks (is it for another architecture?)");
  }
  for (auto& p : params) load_one(p.key(), p.value(), false);
  for (auto& b : buffers) load_one(b.key(), b.value(), true);
  return read_state(in);
}

BackboneLoad load_backbone_weights(const std::string& path, torch::nn::Module& model) {
  auto in = open_archive(path);
  const TrainState state = read_state(in);
  if (state.arch != kBackboneClassifierArch)
    fail("checkpoint '", path, "' is a ", state.arch.empty() ? "detector" : state.arch,
         " checkpoint, not a backbone from `compress pretrain`");
  torch::NoGradGuard no_grad;
  const std::string prefix = "backbone.";
  BackboneLoad r;
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  auto load_all = [&](torch::OrderedDict<std::string, torch::Tensor>& named, bool is_buffer) {
    for (auto& item : named) {
      if (item.key().rfind(prefix, 0) != 0) continue;
      torch::Tensor t;
      if (!in.try_read("model." + item.key(), t, is_buffer))
        fail("checkpoint '", path, "' has no tensor '", item.key(),
             "': it was pretrained for another backbone "
             "(run `compress pretrain` with this recipe)");
      if (t.sizes() != item.value().sizes())
        fail("checkpoint '", path, "': tensor '", item.key(), "' has shape ", shape_str(t), " but the model expects ",
             shape_str(item.value()), " (pretrained for another MobileNetV3 scale or model_name, or ResNet depth?)");
      item.value().copy_(t);
      ++r.loaded;
    }
  };
  load_all(params, false);
  load_all(buffers, true);
  if (r.loaded == 0) fail("checkpoint '", path, "': the model has no `backbone.*` tensors to load");
  for (const auto& key : in.keys()) {
    if (key.rfind("model." + prefix, 0) != 0) continue;
    const std::string name = key.substr(6);
    if (!params.contains(name) && !buffers.contains(name)) ++r.unused;
  }
  return r;
}

TrainState read_checkpoint_state(const std::string& path) {
  auto in = open_archive(path);
  return read_state(in);
}

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  TrainState s = load_weights(path, model);
  auto in = open_archive(path);
  if (optimizer) {
    torch::serialize::InputArchive opt;
    if (!in.try_read("optimizer", opt)) fail("checkpoint '", path, "' holds no optimizer state; cannot resume");
    try {
      optimizer->load(opt);
    } catch (const c10::Error& e) {
      fail("checkpoint '", path, "': optimizer state does not fit this model/optimizer: ", e.what_without_backtrace());
    }
  }
  torch::Tensor rng;
  if (in.try_read("meta.rng", rng, true)) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the global generator
    gen.set_state(rng);
  }
  return s;
}

}  // namespace compress
