// The stage skeleton quant, prune and distill share: typed section overrides
// (a learning rate of 1e-8 reaches the optimizer as 1e-8), the checkpoint's
// transform record read once, which checkpoint each stage resumes, and the run
// without training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "compress/model_transforms.h"
#include "compress/prune/prune_stage.h"
#include "compress/stage.h"
#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/engine/optimizer.h"
#include "train/models/detector.h"
#include "train/util/error.h"

using namespace compress;

namespace {

const std::vector<std::string> kTinySsd = {"num_classes=3",
                                           "MobileNetV3.model_name=small",
                                           "MobileNetV3.scale=0.5",
                                           "MobileNetV3.extra_block_filters=[[16, 32], [16, 32], [16, 32], [16, 32]]",
                                           "SSDLiteMultiBoxHead.base_size=64",
                                           "SSDLiteMultiBoxHead.steps=[]"};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ConfigSet, KeepsEveryDigitAndChecksTheSchema) {
  Config cfg = config_from_string("");
  // 6 decimals (std::to_string) would have made these 0 and 0.3.
  for (const double v : {1e-8, 0.1 + 0.2, 3.0e-7}) {
    cfg.set("LearningRate.base_lr", v);
    EXPECT_EQ(cfg.get<double>("LearningRate.base_lr"), v);
    // ... and through the YAML text a checkpoint stores.
    EXPECT_EQ(config_from_string(cfg.dump()).get<double>("LearningRate.base_lr"), v);
  }
  cfg.set("max_iters", int64_t{12345});
  EXPECT_EQ(cfg.get<int64_t>("max_iters"), 12345);
  cfg.set("pretrain_weights", "");
  EXPECT_EQ(cfg.get<std::string>("pretrain_weights"), "");
  EXPECT_EQ(config_from_string(cfg.dump()).get<std::string>("pretrain_weights"), "");
  const std::string unknown = error_of([&] { cfg.set("LearningRate.base_lrr", 0.1); });
  EXPECT_NE(unknown.find("base_lrr"), std::string::npos) << unknown;
  const std::string wrong = error_of([&] { cfg.set("max_iters", std::string("many")); });
  EXPECT_NE(wrong.find("max_iters"), std::string::npos) << wrong;
}

TEST(Stage, SectionLearningRateReachesTheOptimizer) {
  auto o = kTinySsd;
  o.insert(o.end(), {"quant.base_lr=1e-8", "quant.max_iters=7", "LearningRate.base_lr=0.05", "max_iters=900"});
  Config cfg = config_from_string("", o);
  apply_stage_overrides(cfg, "quant");
  EXPECT_EQ(cfg.get<int64_t>("max_iters"), 7);
  auto model = build_detector(cfg);
  const OptimizerBundle b = make_optimizer(*model, cfg);
  ASSERT_FALSE(b.groups.empty());
  for (size_t i = 0; i < b.groups.size(); ++i)
    EXPECT_DOUBLE_EQ(b.optimizer->param_groups()[i].options().get_lr(), 1e-8 * b.groups[i].lr_mult) << i;
  // A section left at 0 keeps the recipe's values.
  apply_stage_overrides(cfg, "prune");
  EXPECT_EQ(cfg.get<int64_t>("max_iters"), 7);
  EXPECT_EQ(cfg.get<double>("LearningRate.base_lr"), 1e-8);
}

TEST(ModelTransforms, RoundTripAndErrorsNameTheCheckpoint) {
  ModelTransforms t;
  EXPECT_EQ(t.to_json(), "");
  EXPECT_TRUE(ModelTransforms::from_json("", "a.pt").empty());
  t.prune = PruneShapes{R"({"modules":{"head.conv":{"groups":1,"in":8,"out":4}}})", "geometry_median"};
  quant::QuantOptions q;
  q.weight_bits = 7;
  q.not_quant_pattern = {"se_block"};
  t.quant = q;
  const ModelTransforms back = ModelTransforms::from_json(t.to_json(), "a.pt");
  ASSERT_TRUE(back.prune && back.quant);
  EXPECT_EQ(back.prune->modules_json, t.prune->modules_json);
  EXPECT_EQ(back.prune->criterion, "geometry_median");
  EXPECT_EQ(back.quant->weight_bits, 7);
  EXPECT_EQ(back.quant->not_quant_pattern, std::vector<std::string>{"se_block"});
  EXPECT_EQ(back.to_json(), t.to_json());
  for (const auto& [text, words] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "unreadable meta.transforms"},
           {R"({"distill": {}})", "unknown transform 'distill'"},
           {R"({"prune": {"criterion": "l1_norm"}})", "no 'modules' object"},
           {R"({"quant": {"weight_bits": 8}})", "meta.transforms.quant"}}) {
    const std::string e = error_of([&] { ModelTransforms::from_json(text, "ckpt.pt"); });
    EXPECT_NE(e.find("ckpt.pt"), std::string::npos) << text << " -> " << e;
    EXPECT_NE(e.find(words), std::string::npos) << text << " -> " << e;
  }
}

TEST(Stage, EachStageResumesOnlyItsOwnCheckpoints) {
  testutil::TempDir d;
  const Config cfg = config_from_string("", kTinySsd);
  auto model = build_detector(cfg);
  const std::string plain = d.file("float.pt"), qat = d.file("qat.pt");
  TrainState st;
  st.arch = model->arch();
  save_checkpoint(plain, *model, nullptr, st);
  ModelTransforms q;
  q.quant = quant::QuantOptions{};
  st.transforms = q.to_json();
  save_checkpoint(qat, *model, nullptr, st);  // (only the record matters here)
  const StageRules rules = prune::prune_stage_rules("random");
  const std::string not_pruned = error_of([&] { start_stage(cfg, plain, rules); });
  EXPECT_NE(not_pruned.find("'" + plain + "' is not a pruned checkpoint"), std::string::npos) << not_pruned;
  const std::string is_qat = error_of([&] { start_stage(cfg, qat, rules); });
  EXPECT_NE(is_qat.find("'" + qat + "' is a QAT checkpoint"), std::string::npos) << is_qat;
  // pretrain_weights must be float for pruning.
  const Config with_qat = config_from_string("", [&] {
    auto o = kTinySsd;
    o.push_back("pretrain_weights=" + qat);
    return o;
  }());
  const std::string qat_weights = error_of([&] { start_stage(with_qat, "", rules); });
  EXPECT_NE(qat_weights.find("is a QAT checkpoint; prune the float model"), std::string::npos) << qat_weights;
}

TEST(Stage, WithoutTrainingWritesTheModelAndItsRecord) {
  testutil::TempDir d;
  auto o = kTinySsd;
  o.push_back("max_iters=0");
  const Config cfg = config_from_string("", o);
  StageRules rules = prune::prune_stage_rules("random");
  StageStart start = start_stage(cfg, "", rules);
  EXPECT_TRUE(start.transforms.empty());
  start.transforms.prune = PruneShapes{R"({"modules":{}})", "l1_norm"};
  StageRun run;
  run.run_dir = d.file("run");
  run.ap = 0.25;
  bool attached = false;
  run.attach = [&](Trainer&) { attached = true; };
  EXPECT_EQ(run_stage(cfg, start, run), 0.25);
  EXPECT_FALSE(attached);  // no Trainer
  const TrainState st = read_checkpoint_state(d.file("run/model_final.pt"));
  EXPECT_EQ(st.transforms, start.transforms.to_json());
  EXPECT_EQ(st.best_ap, 0.25);
  EXPECT_EQ(st.arch, start.model->arch());
  // The stored config no longer points at weights the model already holds.
  EXPECT_EQ(config_from_string(st.config_yaml).get<std::string>("pretrain_weights"), "");
}
