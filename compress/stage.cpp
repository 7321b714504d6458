#include "compress/stage.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

namespace compress {
namespace fs = std::filesystem;

void apply_stage_overrides(Config& cfg, const std::string& section) {
  if (const auto n = cfg.get<int64_t>(section + ".max_iters"); n > 0) cfg.set("max_iters", n);
  if (const auto lr = cfg.get<double>(section + ".base_lr"); lr > 0) cfg.set("LearningRate.base_lr", lr);
}

StageStart start_stage(const Config& cfg, const std::string& resume, const StageRules& rules) {
  StageStart s;
  if (!resume.empty()) {
    s.resume = resume;
    s.transforms = read_transforms(resume);
    if (const std::string why = rules.refuse_resume(s.transforms); !why.empty())
      fail("checkpoint '", resume, "' ", why);
    s.model = build_detector(cfg);
    ModelTransforms shapes;  // the QAT wrappers are the quant stage's to re-apply
    shapes.prune = s.transforms.prune;
    apply_transforms(s.model, shapes, resume);
    return s;
  }
  s.weights = cfg.get<std::string>("pretrain_weights");
  if (s.weights.empty()) {
    spdlog::warn("no pretrain_weights: {}", rules.random_init);
    s.model = build_detector(cfg);
    return s;
  }
  s.model = load_float_detector(cfg, s.weights, rules.qat_weights_hint);
  s.transforms = read_transforms(s.weights);
  spdlog::info("{} from '{}'{}", rules.weights_role, s.weights, s.transforms.prune ? " (pruned)" : "");
  return s;
}

void save_final(const Config& cfg, DetectorImpl& model, const ModelTransforms& t, const std::string& run_dir,
                double ap) {
  if (dist_env_from_environment().rank != 0) return;  // one checkpoint writer
  TrainState st;
  st.config_yaml = cfg.dump();
  st.arch = model.arch();
  st.transforms = t.to_json();
  st.best_ap = ap;
  save_checkpoint((fs::path(run_dir) / "model_final.pt").string(), model, nullptr, st);
}

double run_stage(Config cfg, StageStart& start, const StageRun& run) {
  // The values are in the model already; the Trainer must not load them again
  // over the stage's changes (pruned shapes, QAT wrappers).
  cfg.set("pretrain_weights", "");
  if (cfg.get<int64_t>("max_iters") <= 0) {
    save_final(cfg, *start.model, start.transforms, run.run_dir, run.ap);
    spdlog::info("no training (max_iters 0): model in {}/model_final.pt", run.run_dir);
    return run.ap;
  }
  TrainOptions to;
  to.eval = run.eval;
  to.resume = start.resume;
  to.run_dir = run.run_dir;
  to.transforms = start.transforms.to_json();
  Trainer trainer(cfg, start.model, to);
  if (run.attach) run.attach(trainer);
  return trainer.train().best_ap;
}

}  // namespace compress
