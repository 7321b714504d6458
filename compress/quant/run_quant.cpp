#include "compress/quant/run_quant.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compress/model_io.h"
#include "compress/quant/quant_json.h"
#include "train/config/config.h"
#include "train/config/override_value.h"
#include "train/data/coco_json.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/trainer.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"
#include "train/util/progress.h"

namespace compress::quant {
namespace fs = std::filesystem;

namespace {

void log_report(const QuantReport& r, const std::string& run_dir) {
  spdlog::info("quantized {} convs, kept {} in float", r.quantized.size(), r.skipped.size());
  std::string q, s;
  for (const auto& p : r.quantized) q += (q.empty() ? "" : ", ") + p;
  for (const auto& p : r.skipped) s += (s.empty() ? "" : ", ") + p;
  spdlog::info("quantized: {}", q);
  spdlog::info("float (--not_quant_pattern): {}", s.empty() ? "none" : s);
  if (dist_env_from_environment().rank != 0) return;  // rank 0 alone writes
  fs::create_directories(run_dir);
  write_file_atomic((fs::path(run_dir) / "quant_layers.json").string(),
                    nlohmann::json{{"quantized", r.quantized}, {"float", r.skipped}}.dump(1) + "\n");
}

}  // namespace

void calibrate(DetectorImpl& model, const Config& cfg, int64_t batches) {
  auto ds = load_dataset(cfg, "TrainReader");
  auto loader = make_loader(cfg, "EvalReader", ds);
  model.eval();
  set_calibrating(model, true);
  torch::NoGradGuard no_grad;
  const auto device = model.parameters()[0].device();
  loader->start_epoch(0);
  Progress prog("calibrate", batches, "batch", 5.0);
  int64_t n = 0;
  while (n < batches) {
    auto b = loader->next();
    if (!b) break;
    model.forward(b->images.to(device));
    prog.update(++n);
  }
  set_calibrating(model, false);
  if (n == 0) fail("quant calibration: TrainReader gave no batch to calibrate on");
  spdlog::info("calibrated activation scales on {} batches", n);
}

QuantRunResult run_quant(Config cfg, const QuantRunOptions& o) {
  QuantOptions qo = quant_options_from_config(cfg);
  if (o.not_quant_pattern) qo.not_quant_pattern = *o.not_quant_pattern;
  validate(qo);
  if (const auto n = cfg.get<int64_t>("quant.max_iters"); n > 0) apply_override(cfg, "max_iters=" + std::to_string(n));
  if (const auto lr = cfg.get<double>("quant.base_lr"); lr > 0)
    apply_override(cfg, "LearningRate.base_lr=" + override_value(lr));

  QuantRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) + (o.post ? "_ptq" : "_quant") : o.run_dir;
  Detector model = build_detector(cfg);
  const std::string pretrain = cfg.get<std::string>("pretrain_weights");
  // What the checkpoints record: the earlier transforms (a pruned model's
  // shapes), then this quantization.
  nlohmann::json transforms_j = nlohmann::json::object();
  if (!o.resume.empty()) {
    const TrainState s = read_checkpoint_state(o.resume);
    if (s.transforms.find("\"quant\"") == std::string::npos)
      fail("checkpoint '", o.resume,
           "' is not a QAT checkpoint; to start QAT from float weights use -o pretrain_weights=");
    transforms_j = nlohmann::json::parse(s.transforms);
    qo = options_from_json(transforms_j["quant"]);  // the run's own settings
    transforms_j.erase("quant");
    apply_transforms(model, transforms_j.dump(), o.resume);  // pruned shapes; the Trainer loads the values
  } else if (!pretrain.empty()) {
    model = load_float_detector(cfg, pretrain,
                                "QAT starts from float weights; to continue that run use `compress quant -r`");
    if (const auto t = read_checkpoint_state(pretrain).transforms; !t.empty()) transforms_j = nlohmann::json::parse(t);
    spdlog::info("float weights from '{}'{}", pretrain, transforms_j.contains("prune") ? " (pruned)" : "");
  } else {
    spdlog::warn("no pretrain_weights: quantizing a randomly initialised model");
  }
  res.report = apply_qat(*model, qo);
  log_report(res.report, res.run_dir);
  transforms_j["quant"] = options_to_json(qo);
  const std::string transforms = transforms_j.dump();

  if (o.post) {
    calibrate(*model, cfg, cfg.get<int64_t>("quant.calib_batches"));
    TrainState st;
    st.config_yaml = cfg.dump();
    st.arch = model->arch();
    st.transforms = transforms;
    // Every rank calibrates on the same batches, so the scales agree; under a
    // launcher the ranks share the evaluation and rank 0 alone scores and saves.
    const auto dist = dist_init(cfg);
    const bool main = !dist || dist->is_main();
    if (o.eval) {
      const EvalRun run = evaluate_on_reader(cfg, *model, dist.get());
      if (main) {
        res.ap = run.result.stats.ap();
        st.best_ap = res.ap;
        spdlog::info("PTQ eval: AP {:.4f} AP50 {:.4f}", res.ap, run.result.stats.ap50());
        std::cout << run.result.stats.table();
      }
    }
    if (!main) return res;
    save_checkpoint((fs::path(res.run_dir) / "model_final.pt").string(), *model, nullptr, st);
    spdlog::info("PTQ model in {}/model_final.pt", res.run_dir);
    return res;
  }

  apply_override(cfg, "pretrain_weights=''");  // already loaded, before wrapping
  TrainOptions to;
  to.eval = o.eval;
  to.resume = o.resume;
  to.run_dir = res.run_dir;
  to.transforms = transforms;
  Trainer trainer(cfg, model, to);
  const int64_t freeze = qo.freeze_bn_iter;
  trainer.before_step = [&, frozen = false](int64_t iter) mutable {
    if (freeze >= 0 && iter >= freeze && !frozen) {
      set_bn_frozen(trainer.model(), true);
      frozen = true;
      spdlog::info("BN statistics frozen at QAT step {}", iter);
    }
  };
  const TrainState st = trainer.train();
  res.ap = st.best_ap;
  return res;
}

}  // namespace compress::quant
