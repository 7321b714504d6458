// `compress bench train` and `bench model` through the CLI on tiny recipes: the
// rows they print and write describe the run that was timed (input, batch,
// threads, images/s = batch / step), QAT is timed beside float, and the model
// counter agrees with the model's own parameter count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "compress/export/latency.h"
#include "compress/export/onnx_export.h"
#include "compress/export/onnx_graph.h"
#include "tests/train_fixture.h"
#include "train/models/detector.h"

namespace {

// The shipped fashion recipe `base`, pointed at a tiny set; returns the -o flags.
std::string tiny_recipe(const testutil::TempDir& d, const std::string& base,
                        const std::vector<std::string>& overrides) {
  testutil::write_text(d.file("recipe.yml"), "_BASE_: [" + testutil::source_path(base) + "]\n");
  std::string o;
  for (const auto& s : overrides) o += " -o '" + s + "'";
  return o;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(testutil::read_text(path)); }

// Runs `bench train` on the tiny recipe at 64 px with `flags`; returns the JSON
// rows (and the output through `out`).
nlohmann::json bench_train_rows(const testutil::TempDir& d, const std::string& o, const std::string& flags,
                                std::string* out = nullptr) {
  const auto r = testutil::run_cli("bench train -c " + d.file("recipe.yml") + o + " --input 64 --threads 1 " + flags +
                                   " --json " + d.file("rows.json"));
  EXPECT_EQ(r.code, 0) << r.output;
  if (out) *out = r.output;
  return r.code == 0 ? read_json(d.file("rows.json")) : nlohmann::json::array();
}

// An untrained float tiny SSDLite exported at 64 px to `path`.
void tiny_ssd_onnx(const testutil::TempDir& d, const std::string& path) {
  auto model = compress::build_detector(compress::config_from_string("", testutil::tiny_ssd_overrides(d, 64)));
  compress::ExportOptions eo;
  eo.height = eo.width = 64;
  compress::export_onnx(*model, path, eo);
}

}  // namespace

TEST(Bench, TrainStepsAtAFixedInputBesideTheQatModel) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const auto o = tiny_recipe(d, "configs/fashion/ssdlite_mobilenet_v3_small.yml", testutil::tiny_ssd_overrides(d, 96));
  std::string output;
  const auto rows = bench_train_rows(d, o, "--steps 2 --warmup 1 --quant", &output);
  ASSERT_EQ(rows.size(), 2u) << rows.dump();
  EXPECT_EQ(rows[1]["model"].get<std::string>(), rows[0]["model"].get<std::string>() + " QAT");
  for (const auto& row : rows) {
    EXPECT_EQ(row["input"].get<int64_t>(), 64) << row.dump();  // resized from the reader's 96
    EXPECT_EQ(row["batch"].get<int64_t>(), 4);
    EXPECT_EQ(row["threads"].get<int64_t>(), 1);
    const double ms = row["median_step_ms"].get<double>();
    EXPECT_GT(ms, 0);
    EXPECT_NEAR(row["images_per_s"].get<double>(), 4 * 1000.0 / ms, 1e-9 * (4 * 1000.0 / ms));
  }
  EXPECT_NE(output.find("QAT / float step = "), std::string::npos) << output;

  const auto r = testutil::run_cli("bench train -c " + d.file("recipe.yml") + o + " --input -3 --steps 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("--input must be positive"), std::string::npos) << r.output;
}

TEST(Bench, YoloTrainStepAtTheRequestedSize) {
  // YOLOv3 needs sizes that are multiples of 32 and its targets in input
  // pixels: the resized batch (boxes scaled along) trains at 64.
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 8, 96);
  const auto o = tiny_recipe(d, "configs/fashion/yolov3_mobilenet_v3.yml", testutil::tiny_yolo_overrides(d, 96));
  const auto rows = bench_train_rows(d, o, "--steps 1 --warmup 0");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["input"].get<int64_t>(), 64);
  EXPECT_EQ(rows[0]["model"].get<std::string>(), "YOLOv3-MobileNetV3-small");
}

TEST(Bench, ModelCountsEveryParameter) {
  testutil::TempDir d;
  testutil::make_tiny_fashion(d, 4, 96);
  const auto overrides = testutil::tiny_ssd_overrides(d, 96);
  const auto o = tiny_recipe(d, "configs/fashion/ssdlite_mobilenet_v3_small.yml", overrides);
  auto r = testutil::run_cli("bench model -c " + d.file("recipe.yml") + o + " --input 96 --json " + d.file("m.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = read_json(d.file("m.json"));
  auto model = compress::build_detector(compress::load_config(d.file("recipe.yml"), overrides));
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  EXPECT_EQ(j["params"].get<int64_t>(), n);
  EXPECT_EQ(j["input"].get<int64_t>(), 96);
  EXPECT_GT(j["macs"].get<int64_t>(), 0);
}

TEST(Bench, OnnxProfileSumsKernelTimeByOpType) {
  // ONNX Runtime's profiler, summed by op type over the timed runs: every conv
  // of the file is one conv kernel in it (Conv, FusedConv, ...), slowest first.
  testutil::TempDir d;
  tiny_ssd_onnx(d, d.file("m.onnx"));
  const auto row = compress::time_onnxruntime(d.file("m.onnx"), 1, 3, 1, /*profile=*/true);
  ASSERT_FALSE(row.profile.empty());
  int64_t conv_kernels = 0;
  for (size_t i = 0; i < row.profile.size(); ++i) {
    const auto& t = row.profile[i];
    EXPECT_GE(t.ms, 0) << t.op;
    EXPECT_GE(t.nodes, 1) << t.op;
    if (i > 0) EXPECT_LE(t.ms, row.profile[i - 1].ms) << t.op;
    if (t.op.find("Conv") != std::string::npos) conv_kernels += t.nodes;
  }
  const auto ops = compress::onnx_export::read_op_types(d.file("m.onnx"));
  EXPECT_EQ(conv_kernels, std::count(ops.begin(), ops.end(), std::string("Conv")));
  const auto table = compress::profile_table({row});
  for (const auto& t : row.profile) EXPECT_NE(table.find("| " + t.op + " |"), std::string::npos) << table;
  EXPECT_NE(table.find("**all kernels**"), std::string::npos);
  // Unprofiled rows print no table.
  compress::LatencyRow plain = row;
  plain.profile.clear();
  EXPECT_EQ(compress::profile_table({plain}), "");
}

TEST(Bench, OnednnProfileCountsEachConvUnderItsShapeClass) {
  // The runtime's own clock, by kernel kind: the float file's convs appear as
  // "Conv f32 1x1", "Conv f32 dw 3x3", ... with as many steps per run as the
  // file has convs of that kernel size and grouping (counted here from the
  // file's nodes), and the kinds' times (each a mean over the timed runs) add
  // up to at most the runs' mean: every kernel is timed inside a run, so this
  // holds however loaded the machine is (the median did not: one preempted
  // run lifts the means alone).
  testutil::TempDir d;
  tiny_ssd_onnx(d, d.file("m.onnx"));
  const auto row = compress::time_onednn(d.file("m.onnx"), 1, 4, 1, /*profile=*/true);
  ASSERT_FALSE(row.profile.empty());
  // SSDLite's grouped convs are all depthwise.
  std::map<std::string, int64_t> want;
  for (const auto& n : compress::onnx_export::read_nodes(d.file("m.onnx")))
    if (n.op == "Conv") ++want[n.ints.count("group") && n.ints.at("group") > 1 ? "Conv f32 dw" : "Conv f32"];
  ASSERT_GT(want["Conv f32 dw"], 0);
  std::map<std::string, int64_t> got;
  double sum = 0;
  for (const auto& t : row.profile) {
    sum += t.ms;
    if (t.op.rfind("Conv", 0) != 0) continue;
    const bool dw = t.op.rfind("Conv f32 dw ", 0) == 0;
    got[dw ? "Conv f32 dw" : "Conv f32"] += t.nodes;
    // ... and the kernel size last: "1x1", "3x3", "5x5".
    const auto size = t.op.substr(t.op.rfind(' ') + 1);
    EXPECT_TRUE(size == "1x1" || size == "3x3" || size == "5x5") << t.op;
  }
  EXPECT_EQ(got, want);
  ASSERT_EQ(row.samples_ms.size(), 4u);
  const double mean_ms = std::accumulate(row.samples_ms.begin(), row.samples_ms.end(), 0.0) / 4;
  EXPECT_LE(sum, mean_ms * (1 + 1e-9));
  for (const auto& t : row.profile) EXPECT_GT(t.ms, 0) << t.op;  // every kind was timed
  const auto table = compress::profile_table({row});
  EXPECT_NE(table.find("onednn, 1 thr."), std::string::npos) << table;
}

TEST(Bench, RoundsPoolEveryRunOfAModelAndKeepTheFirstRoundsOrder) {
  // Two models, three rounds; round 2 ran during a slow spell (every run 2x).
  auto row = [](const std::string& m, std::vector<double> ms, double load, double before, double peak) {
    compress::LatencyRow r;
    r.model = m;
    r.engine = "onednn";
    r.threads = 1;
    r.samples_ms = ms;
    r.load_ms = load;
    r.rss_before_mib = before;
    r.peak_rss_mib = peak;
    return r;
  };
  const std::vector<std::vector<compress::LatencyRow>> rounds = {
      {row("a", {10, 11}, 100, 50, 80), row("b", {5, 6}, 40, 60, 70)},
      {row("a", {20, 22}, 300, 50, 90), row("b", {10, 12}, 20, 60, 65)},
      {row("a", {10, 12}, 200, 52, 82), row("b", {5, 5}, 30, 61, 71)},
  };
  const auto m = compress::merge_rounds(rounds);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].model, "a");
  EXPECT_EQ(m[1].model, "b");
  // a: {10, 10, 11, 12, 20, 22} -> the upper middle, 12; b: {5, 5, 5, 6, 10, 12} -> 6.
  EXPECT_DOUBLE_EQ(m[0].median_ms, 12);
  EXPECT_DOUBLE_EQ(m[1].median_ms, 6);
  EXPECT_EQ(m[0].runs, 6);
  // Load: the median round's (100, 200, 300 -> 200); memory added: median of 30, 40, 30 -> 30.
  EXPECT_DOUBLE_EQ(m[0].load_ms, 200);
  EXPECT_DOUBLE_EQ(m[0].added_mib(), 30);
  EXPECT_DOUBLE_EQ(m[1].added_mib(), 10);  // 10, 5, 10
  // The slow spell moved both models alike: their ratio stays that of the quiet rounds.
  EXPECT_DOUBLE_EQ(m[1].median_ms / m[0].median_ms, 0.5);
}
