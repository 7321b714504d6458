// End to end through the CLI on the fashion YOLOv3-MobileNetV3 recipe, shrunk
// to seconds: train, sensitivity (JSON + PNG), prune with the reference's head
// list and spelling (--eval, fine-tuning), eval / export the pruned checkpoint,
// resume its fine-tuning with `train -r`, and prune by --sensitivities; the
// sensitivity analysis in 2 processes equals 1 process and resumes its file.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "compress/model_io.h"
#include "tests/naive_prune.h"
#include "tests/prune_fixture.h"
#include "tests/train_fixture.h"

namespace fs = std::filesystem;

using testutil::reference_head_params;

TEST(E2E, FashionYolov3PruneRecipe) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 128, /*seed=*/11);
  const std::string cfg = d.file("yolov3_mobilenet_v3.yml");
  testutil::write_text(
      cfg, "_BASE_: [" + testutil::source_path("configs/fashion/yolov3_mobilenet_v3.yml") +
               "]\n"
               "max_iters: 60\nsnapshot_iter: 1000\nlog_iter: 20\nsave_dir: " +
               d.file("out") +
               "\n"
               "MobileNetV3: {model_name: small, scale: 0.5}\n"
               "prune: {max_iters: 4}\n"
               "LearningRate: {base_lr: 0.002, schedulers: [{type: LinearWarmup, start_factor: 0.1, steps: 10}]}\n");
  std::string o;
  std::vector<std::string> overrides;
  for (const auto& s : testutil::tiny_yolo_overrides(d, 64))
    if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0 && s.rfind("MobileNetV3", 0) != 0) {
      o += " -o '" + s + "'";
      overrides.push_back(s);
    }
  auto r = testutil::run_cli("train -c " + cfg + o);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string trained = (fs::path(d.file("out")) / "yolov3_mobilenet_v3" / "model_final.pt").string();

  // Sensitivity of two layers at two ratios.
  r = testutil::run_cli("sensitivity -c " + cfg + o + " -o pretrain_weights=" + trained +
                        " --pruned_params 'yolo_block.0.0.0.conv.weights,yolo_block.2.tip.conv.weight'"
                        " --ratios 0.3,0.9 --output " +
                        d.file("sens/s.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto sens = nlohmann::json::parse(testutil::read_text(d.file("sens/s.json")));
  EXPECT_GT(sens["base_ap"].get<double>(), 0.0);
  ASSERT_EQ(sens["sensitivities"].size(), 2u);
  EXPECT_EQ(sens["sensitivities"]["yolo_block.2.tip.conv.weight"].size(), 2u);
  EXPECT_GT(fs::file_size(d.file("sens/s.png")), 1000u);

  // A rerun with one more ratio measures only that one, and keeps the others' values.
  const std::string sens_cmd = "sensitivity -c " + cfg + o + " -o pretrain_weights=" + trained +
                               " --pruned_params 'yolo_block.0.0.0.conv.weights,yolo_block.2.tip.conv.weight'"
                               " --output " +
                               d.file("sens/s.json");
  r = testutil::run_cli(sens_cmd + " --ratios 0.3,0.5,0.9");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: 4 of 6 evaluations already measured"), std::string::npos) << r.output;
  const auto sens3 = nlohmann::json::parse(testutil::read_text(d.file("sens/s.json")));
  for (const std::string p : {"yolo_block.0.0.0.conv.weight", "yolo_block.2.tip.conv.weight"}) {
    ASSERT_EQ(sens3["sensitivities"][p].size(), 3u) << sens3.dump(1);
    for (const std::string ratio : {"0.3", "0.9"})
      EXPECT_EQ(sens3["sensitivities"][p][ratio].get<double>(), sens["sensitivities"][p][ratio].get<double>());
  }
  // Another criterion is another measurement: nothing is reused.
  r = testutil::run_cli(sens_cmd + " --ratios 0.3,0.9 --prune_criterion geometry_median");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("measuring every ratio again"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file("sens/s.json")))["key"]["criterion"], "geometry_median");
  // The L1 measurements it could not reuse are kept beside it.
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file("sens/s.json.prev"))), sens3);

  // Under a launcher the ranks share the evaluations (3 on 2 ranks, so the last
  // round has an idle rank) and rank 0 writes what one process writes; a
  // 2-process rerun with one more ratio resumes the 1-process file.
  const std::string tip = "sensitivity -c " + cfg + o + " -o threads=1 -o pretrain_weights=" + trained +
                          " --pruned_params yolo_block.2.tip.conv.weight --output ";
  auto launch2 = [&](const std::string& args, int port) {
    return testutil::run_shell(testutil::source_path("tools/dist_train.sh") + " --master_port " +
                               std::to_string(testutil::test_port(port)) + " 2 " + COMPRESS_BINARY + " " + args);
  };
  r = testutil::run_cli(tip + d.file("sens1/s.json") + " --ratios 0.3,0.5,0.9");
  ASSERT_EQ(r.code, 0) << r.output;
  r = launch2(tip + d.file("sens2/s.json") + " --ratios 0.3,0.5,0.9", 13);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(testutil::count_of(r.output, "sensitivity of 1 layers at 3 ratios"), 1u) << r.output;
  const auto one = nlohmann::json::parse(testutil::read_text(d.file("sens1/s.json")));
  const auto two = nlohmann::json::parse(testutil::read_text(d.file("sens2/s.json")));
  EXPECT_NEAR(two["base_ap"].get<double>(), one["base_ap"].get<double>(), 1e-9);
  const auto& l1 = one["sensitivities"]["yolo_block.2.tip.conv.weight"];
  const auto& l2 = two["sensitivities"]["yolo_block.2.tip.conv.weight"];
  ASSERT_EQ(l1.size(), 3u) << one.dump(1);
  ASSERT_EQ(l2.size(), 3u) << two.dump(1);
  for (const std::string ratio : {"0.3", "0.5", "0.9"})
    EXPECT_NEAR(l2[ratio].get<double>(), l1[ratio].get<double>(), 1e-9) << ratio;
  EXPECT_GT(fs::file_size(d.file("sens2/s.png")), 1000u);
  r = launch2(tip + d.file("sens1/s.json") + " --ratios 0.3,0.5,0.7,0.9", 14);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: 3 of 4 evaluations already measured"), std::string::npos) << r.output;
  const auto more = nlohmann::json::parse(testutil::read_text(d.file("sens1/s.json")));
  ASSERT_EQ(more["sensitivities"]["yolo_block.2.tip.conv.weight"].size(), 4u) << more.dump(1);
  EXPECT_EQ(more["sensitivities"]["yolo_block.2.tip.conv.weight"]["0.5"], l1["0.5"]);

  // The reference recipe, its spelling, FPGM, --eval, a short fine-tune.
  const std::string ratios =
      "0.75,0.75,0.75,0.75,0.75,0.75,0.75,0.75,0.75,0.75,0.75,0.75,"
      "0.875,0.875,0.875,0.875,0.875,0.875";
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --pruned_params '" +
                        reference_head_params() + "' --pruned_ratios " + ratios +
                        " --prune_criterion geometry_median --eval");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("right after pruning"), std::string::npos) << r.output;
  const fs::path run = fs::path(d.file("out")) / "yolov3_mobilenet_v3_prune";
  const auto report = nlohmann::json::parse(testutil::read_text((run / "prune_report.json").string()));
  ASSERT_EQ(report["layers"].size(), 18u);
  EXPECT_EQ(report["layers"][0]["channels"][1].get<int>(), 128);
  // Which channels went: the reference's FPGM choice on each named conv of the
  // trained weights, recomputed naively in double precision.
  {
    auto unpruned = compress::load_detector(compress::load_config(cfg, overrides), trained);
    const auto specs = testutil::reference_head_specs();
    for (size_t i = 0; i < specs.size(); ++i) {
      const auto& l = report["layers"][i];
      ASSERT_EQ(l["param"].get<std::string>(), specs[i].conv + ".weight");
      const auto w = unpruned->named_parameters()[specs[i].conv + ".weight"];
      EXPECT_EQ(l["kept"].get<std::vector<int64_t>>(), testutil::naive_kept(testutil::naive_fpgm(w), specs[i].ratio))
          << specs[i].conv;
    }
  }
  EXPECT_LT(report["flops"]["after"].get<double>(), 0.5 * report["flops"]["before"].get<double>());
  // The picture of the FLOPs per conv: one 20 px row per changed conv (23 here).
  const cv::Mat chart = cv::imread((run / "prune_report.png").string());
  ASSERT_FALSE(chart.empty());
  EXPECT_EQ(chart.rows, 34 + 36 + 20 * 23);
  const auto summary = nlohmann::json::parse(testutil::read_text((run / "prune_summary.json").string()));
  // "Right after pruning" recomputed apart: the same recipe without fine-tuning
  // saves the pruned weights, and `compress eval` scores them.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained +
                        " -o max_iters=0 -o prune.max_iters=0" + " --pruned_params '" + reference_head_params() +
                        "' --pruned_ratios " + ratios + " --prune_criterion geometry_median --run-dir " +
                        d.file("noft"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + d.file("noft/model_final.pt") + " --out " +
                        d.file("noft.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NEAR(summary["ap_pruned"].get<double>(),
              nlohmann::json::parse(testutil::read_text(d.file("noft.json")))["AP"].get<double>(), 1e-9);

  // The pruned checkpoint reloads in eval and export (with the new shapes) ...
  const std::string pruned = (run / "model_final.pt").string();
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + pruned);
  ASSERT_EQ(r.code, 0) << r.output;
  r = testutil::run_cli("export -c " + cfg + o + " -w " + pruned + " --format onnx --output " + d.file("p.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;
  // ... and its fine-tuning resumes with `train -r` (no shape mismatch).
  r = testutil::run_cli("train -c " + cfg + o + " -o max_iters=6 -r " + (run / "latest.pt").string() + " --run-dir " +
                        run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("at iteration 4"), std::string::npos) << r.output;

  // Ratios from the sensitivity file under a loss budget, kept channels rounded to blocks of 8.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss 1.0 --run-dir " + d.file("bysens") +
                        " -o prune.max_iters=0" + " -o max_iters=0 -o prune.round_to=8");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto bysens = nlohmann::json::parse(testutil::read_text(d.file("bysens/prune_report.json")));
  ASSERT_EQ(bysens["layers"].size(), 2u);
  for (const auto& l : bysens["layers"]) {
    const int before = l["channels"][0].get<int>(), after = l["channels"][1].get<int>();
    EXPECT_TRUE(after % 8 == 0 && after < before) << l.dump();
    EXPECT_EQ(l["kept"].size(), static_cast<size_t>(after));
  }

  // --pruned_params picks from the file's layers; one the file lacks is an error naming it.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss 1.0 --pruned_params 'yolo_block.2.*' --run-dir " +
                        d.file("bysens1") + " -o prune.max_iters=0 -o max_iters=0");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto bysens1 = nlohmann::json::parse(testutil::read_text(d.file("bysens1/prune_report.json")));
  ASSERT_EQ(bysens1["layers"].size(), 1u) << bysens1.dump(1);
  EXPECT_EQ(bysens1["layers"][0]["param"], "yolo_block.2.tip.conv.weight");
  // --pruned_flops: the least --max_loss whose ratios remove that share of FLOPs.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --pruned_flops 0.05 --run-dir " + d.file("byflops") +
                        " -o prune.max_iters=0 -o max_iters=0");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto byflops = nlohmann::json::parse(testutil::read_text(d.file("byflops/prune_report.json")));
  const auto removed = [](const nlohmann::json& rep) {
    return 1.0 - rep["flops"]["after"].get<double>() / rep["flops"]["before"].get<double>();
  };
  EXPECT_GE(removed(byflops), 0.05);
  const auto at = r.output.find("--max_loss ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string logged = r.output.substr(at + 11, r.output.find(' ', at + 11) - at - 11);
  const double found = std::stod(logged);
  // A budget beyond what the picked layers can remove names them.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --pruned_params 'yolo_block.2.tip*' --pruned_flops 0.95 --run-dir " +
                        d.file("toomuch") + " -o prune.max_iters=0 -o max_iters=0");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("the 1 of its layers that --pruned_params picks at their largest measured ratios remove"),
            std::string::npos)
      << r.output;
  // The logged bound reproduces the same pruning.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss " + logged + " --run-dir " + d.file("logged") +
                        " -o prune.max_iters=0 -o max_iters=0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file("logged/prune_report.json")))["flops"], byflops["flops"]);
  // A bound clearly below the one found falls short of the target.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss " + std::to_string(found - 1e-3) + " --run-dir " +
                        d.file("below") + " -o prune.max_iters=0 -o max_iters=0");
  if (r.code == 0) {
    EXPECT_LT(removed(nlohmann::json::parse(testutil::read_text(d.file("below/prune_report.json")))), 0.05);
  } else {
    EXPECT_NE(r.output.find("no selected layer stays within --max_loss"), std::string::npos) << r.output;
  }

  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss 1.0 --pruned_params yolo_block.1.tip.conv.weight");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("has no sensitivity for 'yolo_block.1.tip.conv.weight'"), std::string::npos) << r.output;
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained + " --sensitivities " +
                        d.file("sens/s.json") + " --max_loss 1.0 --pruned_params 'yolo_block.1.*'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("selects none of the layers in"), std::string::npos) << r.output;

  // Bad input: a wrong name lists the closest, a QAT-free ratio list of the wrong length, a bad criterion.
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained +
                        " --pruned_params yolo_block.0.0.0.cnv.weights --pruned_ratios 0.5");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("closest: yolo_block.0.0.0.conv.weight"), std::string::npos) << r.output;
  r = testutil::run_cli(
      "prune -c " + cfg + o + " -o pretrain_weights=" + trained +
      " --pruned_params 'yolo_block.0.0.0.conv.weights,yolo_block.0.0.1.conv.weights' --pruned_ratios 0.5,0.5,0.5");
  EXPECT_EQ(r.code, 2) << r.output;  // usage errors: the flags disagree
  EXPECT_NE(r.output.find("3 values"), std::string::npos) << r.output;
  r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + trained +
                        " --pruned_params yolo_block.0.0.0.conv.weights --pruned_ratios 0.5 --prune_criterion fpgm");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("geometry_median"), std::string::npos) << r.output;
}
