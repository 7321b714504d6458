// End to end through the CLI on the fashion prune-then-distill recipe, shrunk
// to seconds: a teacher (YOLOv3-ResNet34) and a student checkpoint, then one
// `distill` run that prunes the student's head and trains it against the
// teacher. The distillation loss falls, every term is logged, and the
// checkpoint holds the (pruned) student alone.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "tests/train_fixture.h"

namespace fs = std::filesystem;

TEST(E2E, FashionYolov3PruneDistillRecipe) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 128, /*seed=*/11);
  std::string o;
  for (const auto& s : testutil::tiny_yolo_overrides(d, 64))
    if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0 && s.rfind("MobileNetV3", 0) != 0)
      o += " -o '" + s + "'";
  const std::string common = "save_dir: " + d.file("out") + "\nlog_iter: 5\nsnapshot_iter: 1000\n";
  const std::string teacher = d.file("yolov3_r34.yml"), student = d.file("yolov3_mobilenet_v3.yml"),
                    recipe = d.file("yolov3_mobilenet_v3_prune_distill.yml");
  testutil::write_text(teacher, "_BASE_: [" + testutil::source_path("configs/fashion/yolov3_r34.yml") + "]\n" + common +
                                    "max_iters: 2\nResNet: {depth: 18}\n");
  testutil::write_text(student, "_BASE_: [" + testutil::source_path("configs/fashion/yolov3_mobilenet_v3.yml") + "]\n" +
                                    common + "max_iters: 2\nMobileNetV3: {model_name: small, scale: 0.5}\n");
  testutil::write_text(recipe, "_BASE_: [" +
                                   testutil::source_path("configs/fashion/yolov3_mobilenet_v3_prune_distill.yml") +
                                   "]\n" + common +
                                   "MobileNetV3: {model_name: small, scale: 0.5}\n"
                                   "distill: {max_iters: 30, base_lr: 0.002}\n"
                                   "LearningRate: {schedulers: [{type: LinearWarmup, start_factor: 1.0, steps: 0}]}\n");
  for (const auto& c : {teacher, student}) {
    auto r = testutil::run_cli("train -c " + c + o);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  const std::string tw = d.file("out/yolov3_r34/model_final.pt"), sw = d.file("out/yolov3_mobilenet_v3/model_final.pt");
  // The teacher config as the test wrote it, with the same readers (input size) as the student.
  std::string eval_t, anchors;
  for (const auto& s : testutil::tiny_yolo_overrides(d, 64)) {
    if (s.rfind("EvalReader.sample_transforms", 0) == 0) eval_t = s.substr(s.find('=') + 1);
    if (s.rfind("YOLOv3Head.anchors", 0) == 0) anchors = s.substr(s.find('=') + 1);
  }
  testutil::write_text(teacher, testutil::read_text(teacher) + "EvalReader: {sample_transforms: " + eval_t +
                                    "}\nYOLOv3Head: {anchors: " + anchors + "}\n");

  auto r = testutil::run_cli("distill -c " + recipe + o + " -o pretrain_weights=" + sw + " --teacher_config " +
                             teacher + " --teacher_weights " + tw + " --prune_criterion geometry_median --eval");
  ASSERT_EQ(r.code, 0) << r.output;
  // With --eval it first scores the teacher and the unpruned student, as
  // `compress eval` scores them, and warns when the teacher is no better.
  const std::regex base_re("teacher AP ([0-9.]+), student AP ([0-9.]+) as loaded");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, base_re)) << r.output;
  const std::string t_ap = m[1], s_ap = m[2];
  const std::regex eval_re("model_final.pt: [^\\n]* AP ([0-9.]+)\\n");
  for (const auto& [cfg, w, ap] : {std::tuple{teacher, tw, t_ap}, std::tuple{student, sw, s_ap}}) {
    const auto e = testutil::run_cli("eval -c " + cfg + o + " -w " + w);
    ASSERT_EQ(e.code, 0) << e.output;
    std::smatch em;
    ASSERT_TRUE(std::regex_search(e.output, em, eval_re)) << e.output;
    EXPECT_EQ(em[1].str(), ap) << cfg;
  }
  EXPECT_EQ(r.output.find("is no better than the student") != std::string::npos, std::stod(t_ap) <= std::stod(s_ap))
      << r.output;
  // Two processes share the baseline's images (a collective before training)
  // and rank 0 alone logs the same scores.
  const auto two = testutil::run_shell(
      testutil::source_path("tools/dist_train.sh") + " --master_port " + std::to_string(testutil::test_port(11)) +
      " 2 " + COMPRESS_BINARY + " distill -c " + recipe + o + " -o pretrain_weights=" + sw + " --teacher_config " +
      teacher + " --teacher_weights " + tw +
      " --eval -o distill.max_iters=2 -o TrainReader.batch_size=2 -o threads=1 -o distributed.timeout_s=60 --run-dir " +
      d.file("two"));
  ASSERT_EQ(two.code, 0) << two.output;
  std::smatch m2;
  ASSERT_TRUE(std::regex_search(two.output, m2, base_re)) << two.output;
  EXPECT_EQ(m2[0].str(), m[0].str());
  // Rank 0 alone logs, prints the pruning table and writes its report.
  EXPECT_EQ(testutil::count_of(two.output, m[0].str()), 1u) << two.output;
  EXPECT_EQ(testutil::count_of(two.output, "| pruned parameter"), 1u) << two.output;
  EXPECT_EQ(testutil::count_of(two.output, "student from '"), 1u) << two.output;
  EXPECT_TRUE(fs::exists(fs::path(d.file("two")) / "prune_report.json"));
  for (const char* term : {"distill_box", "distill_cls", "distill_obj", "distill_gap"})
    EXPECT_NE(r.output.find(term), std::string::npos) << term << "\n" << r.output;
  const fs::path run = fs::path(d.file("out")) / "yolov3_mobilenet_v3_prune_distill";
  // The recipe pruned the head (its pruned_params come from the config).
  const auto report = nlohmann::json::parse(testutil::read_text((run / "prune_report.json").string()));
  EXPECT_EQ(report["layers"].size(), 18u);
  // The distillation loss falls over the run.
  std::vector<double> dl;
  std::ifstream in((run / "metrics.jsonl").string());
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "train")
      dl.push_back(j["distill_box"].get<double>() + j["distill_cls"].get<double>() + j["distill_obj"].get<double>());
  }
  ASSERT_GE(dl.size(), 3u);
  EXPECT_LT(dl.back(), dl.front()) << dl.front() << " -> " << dl.back();
  // The checkpoint is the student alone: it evaluates with the student's config.
  r = testutil::run_cli("eval -c " + recipe + o + " -w " + (run / "model_final.pt").string());
  ASSERT_EQ(r.code, 0) << r.output;
  // A teacher with other anchors is refused, naming both values.
  r = testutil::run_cli("distill -c " + recipe + o + " -o pretrain_weights=" + sw + " --teacher_config " + teacher +
                        " --teacher_weights " + tw + " -o 'YOLOv3Head.anchor_masks=[[0, 1, 2], [3, 4, 5], [6, 7, 8]]'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("anchor_masks"), std::string::npos) << r.output;
}
