// End to end through the CLI on the fashion SSDLite recipe: float training, QAT
// with the reference's skip patterns, eval of the QAT checkpoint, PTQ, QAT and
// PTQ of a pruned model, the per-conv quantization analysis, and the errors a
// user meets (a mistyped pattern, QAT weights given as float ones).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "compress/model_io.h"
#include "compress/quant/conv_quant.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/evaluate.h"

namespace fs = std::filesystem;
using compress::read_checkpoint_state;
using compress::TrainState;

namespace {

// The fashion SSDLite-Small recipe over a tiny fashion set in `d` (4 steps,
// `extra` YAML added), and the float weights its training leaves.
struct TinyRecipe {
  std::string cfg, o, float_w;  // recipe path, -o overrides for every command, weights
  testutil::CliResult train;
};

TinyRecipe train_tiny_recipe(const testutil::TempDir& d, const std::string& extra) {
  testutil::make_tiny_fashion(d, 8, 96);
  testutil::write_text(d.file("recipe.yml"),
                       "_BASE_: [" + testutil::source_path("configs/fashion/ssdlite_mobilenet_v3_small.yml") +
                           "]\n"
                           "max_iters: 4\nlog_iter: 2\nsave_dir: " +
                           d.file("out") + "\n" + extra);
  TinyRecipe t;
  for (const auto& s : testutil::tiny_ssd_overrides(d, 96))
    if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0) t.o += " -o '" + s + "'";
  t.cfg = d.file("recipe.yml");
  t.train = testutil::run_cli("train -c " + t.cfg + t.o);
  t.float_w = (fs::path(d.file("out")) / "recipe" / "model_final.pt").string();
  return t;
}

}  // namespace

TEST(E2E, FashionSsdliteQuantRecipe) {
  testutil::TempDir d;
  const TinyRecipe t =
      train_tiny_recipe(d, "snapshot_iter: 2\nquant: {max_iters: 4, freeze_bn_iter: 2, calib_batches: 2}\n");
  ASSERT_EQ(t.train.code, 0) << t.train.output;
  const std::string &cfg = t.cfg, &o = t.o, &float_w = t.float_w;
  testutil::CliResult r;

  r = testutil::run_cli("quant -c " + cfg + " --not_quant_pattern res_conv1 se_block --eval" + o +
                        " -o pretrain_weights=" + float_w);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("BN statistics frozen at QAT step 2"), std::string::npos) << r.output;
  const fs::path qrun = fs::path(d.file("out")) / "recipe_quant";
  ASSERT_TRUE(fs::exists(qrun / "model_final.pt"));
  const auto layers = nlohmann::json::parse(testutil::read_text((qrun / "quant_layers.json").string()));
  EXPECT_GT(layers["quantized"].size(), 20u);
  for (const auto& p : layers["float"]) {
    const std::string s = p.get<std::string>();
    EXPECT_TRUE(s.find("res_conv1") != std::string::npos || s.find("se_block") != std::string::npos) << s;
  }

  // eval rebuilds the QAT model from the checkpoint, plan included: under the
  // skip patterns no expand conv rounds its output (its depthwise reader is
  // float), and the loaded model evaluates to the AP the CLI prints.
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + (qrun / "model_final.pt").string() + " --out " +
                        d.file("qat_stats.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Average Precision"), std::string::npos);
  {
    std::vector<std::string> ov;
    for (const auto& s : testutil::tiny_ssd_overrides(d, 96))
      if (s.rfind("save_dir", 0) != 0 && s.rfind("log_iter", 0) != 0) ov.push_back(s);
    const compress::Config c = compress::load_config(cfg, ov);
    auto model = compress::load_detector(c, (qrun / "model_final.pt").string());
    int64_t expands = 0;
    for (const auto& m : model->named_modules()) {
      auto* q = dynamic_cast<compress::quant::ConvQuantImpl*>(m.value().get());
      if (!q) continue;
      if (m.key().find(".expand.conv_quant") != std::string::npos) {
        ++expands;
        EXPECT_FALSE(q->plan(0).round_output) << m.key();
      }
      if (m.key().find(".linear.conv_quant") != std::string::npos) {
        EXPECT_GT(q->input_step(0), 0.f) << m.key() << ": QAT observed it";
      }
    }
    EXPECT_GT(expands, 5);
    // The AP `eval` printed is the loaded model's on EvalReader (recomputed here).
    auto ds = compress::load_dataset(c, "EvalReader");
    auto loader = compress::make_loader(c, "EvalReader", ds);
    const double ap = compress::run_evaluation(*model, *loader, *ds, false).result.stats.ap();
    EXPECT_NEAR(nlohmann::json::parse(testutil::read_text(d.file("qat_stats.json")))["AP"].get<double>(), ap, 1e-9);
  }
  // The export of that checkpoint verifies layer by layer in ONNX Runtime.
  r = testutil::run_cli("export -c " + cfg + o + " -w " + (qrun / "model_final.pt").string() +
                        " --format onnx --verify --verify-images 8 --output " + d.file("qat.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Layer by layer"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("every layer's codes identical"), std::string::npos) << r.output;

  // PTQ: calibration only, same checkpoint format.
  r = testutil::run_cli("quant --post -c " + cfg + " --not_quant_pattern res_conv1" + o +
                        " -o pretrain_weights=" + float_w);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("calibrated activation scales on 2 batches"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(fs::path(d.file("out")) / "recipe_ptq" / "model_final.pt"));

  // Resume a QAT run from its latest checkpoint (here: already finished, a no-op).
  r = testutil::run_cli("quant -c " + cfg + o + " -r " + (qrun / "latest.pt").string());
  EXPECT_EQ(r.code, 0) << r.output;

  // A typo in a pattern is an error, never a silently fully-quantized model.
  r = testutil::run_cli("quant -c " + cfg + " --not_quant_pattern res_conv se_blok" + o +
                        " -o pretrain_weights=" + float_w);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'se_blok' matches no layer"), std::string::npos) << r.output;
  // QAT weights where float ones belong.
  r = testutil::run_cli("quant -c " + cfg + o + " -o pretrain_weights=" + (qrun / "model_final.pt").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is a QAT checkpoint"), std::string::npos) << r.output;
  r = testutil::run_cli("quant -c " + cfg + o + " -o quant.weight_quantize_type=int8");
  EXPECT_EQ(r.code, 2) << r.output;  // a bad -o is a usage error
  EXPECT_NE(r.output.find("channel_wise_abs_max"), std::string::npos) << r.output;
}

// Prune, then quantize (PaddleSlim's order): PTQ and QAT start from pruned
// weights, their checkpoints record both transforms, and eval, export and -r
// rebuild the pruned quantized model.
TEST(E2E, QuantOfAPrunedModel) {
  testutil::TempDir d;
  const TinyRecipe t = train_tiny_recipe(d, "snapshot_iter: 2\nquant: {calib_batches: 2}\n");
  ASSERT_EQ(t.train.code, 0) << t.train.output;
  const std::string &cfg = t.cfg, &o = t.o;
  auto r = testutil::run_cli("prune -c " + cfg + o + " -o pretrain_weights=" + t.float_w +
                             " --pruned_params 'backbone.blocks.*.expand.conv.weight' --pruned_ratios 0.5" +
                             " -o max_iters=0 --run-dir " + d.file("pruned"));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string pruned = d.file("pruned/model_final.pt");

  // PTQ: the AP it reports is the AP `compress eval` gets from its checkpoint.
  r = testutil::run_cli("quant --post --eval -c " + cfg + o + " -o pretrain_weights=" + pruned + " --run-dir " +
                        d.file("ptq"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(pruned)"), std::string::npos) << r.output;
  const std::string ptq = d.file("ptq/model_final.pt");
  const TrainState st = read_checkpoint_state(ptq);
  const auto tr = nlohmann::json::parse(st.transforms);
  EXPECT_TRUE(tr.contains("prune") && tr.contains("quant")) << st.transforms;
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + ptq + " --out " + d.file("stats.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NEAR(nlohmann::json::parse(testutil::read_text(d.file("stats.json")))["AP"].get<double>(), st.best_ap, 1e-9);
  r = testutil::run_cli("export -c " + cfg + o + " -w " + ptq + " --format onnx --output " + d.file("pq.onnx"));
  ASSERT_EQ(r.code, 0) << r.output;

  // QAT for 2 steps, then resumed to 4: the pruned shapes come back from the checkpoint.
  r = testutil::run_cli("quant -c " + cfg + o + " -o pretrain_weights=" + pruned + " -o quant.max_iters=2 --run-dir " +
                        d.file("qat"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = testutil::run_cli("quant -c " + cfg + o + " -o quant.max_iters=4 -r " + d.file("qat/latest.pt") + " --run-dir " +
                        d.file("qat"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("at iteration 2"), std::string::npos) << r.output;
  const auto qat = nlohmann::json::parse(read_checkpoint_state(d.file("qat/model_final.pt")).transforms);
  EXPECT_EQ(qat["prune"], tr["prune"]);
  EXPECT_EQ(read_checkpoint_state(d.file("qat/model_final.pt")).iter, 4);
}

// `quant --analyze`: per-conv AP recovered when that conv alone stays float,
// written as JSON and a chart; a rerun resumes from the JSON; bad layer names
// and flag clashes are errors.
TEST(E2E, QuantAnalysisRanksConvsAndResumes) {
  testutil::TempDir d;
  const TinyRecipe t = train_tiny_recipe(d, "snapshot_iter: 4\nquant: {calib_batches: 2}\n");
  ASSERT_EQ(t.train.code, 0) << t.train.output;
  const std::string &cfg = t.cfg, &o = t.o, &float_w = t.float_w;
  testutil::CliResult r;

  const std::string analyze = "quant -c " + cfg + " --analyze --analyze_layers backbone.blocks.2.,extra_blocks.0" +
                              " --not_quant_pattern se_block" + o + " -o pretrain_weights=" + float_w;
  r = testutil::run_cli(analyze);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| kept float | AP | vs all quantized |"), std::string::npos) << r.output;
  // One progress line per conv, not one more per evaluation inside it.
  EXPECT_EQ(r.output.find("I] eval "), std::string::npos) << r.output;
  const fs::path run = fs::path(d.file("out")) / "recipe_quant_analysis";
  const auto j = nlohmann::json::parse(testutil::read_text((run / "quant_analysis.json").string()));
  ASSERT_TRUE(fs::exists(run / "quant_analysis.png"));
  const double quantized = j["quant_ap"].get<double>();
  std::set<std::string> convs;
  for (const auto& l : j["layers"]) {
    const std::string c = l["conv"].get<std::string>();
    convs.insert(c);
    EXPECT_TRUE(c.find("backbone.blocks.2.") != std::string::npos || c.find("extra_blocks.0") != std::string::npos)
        << c;
    EXPECT_EQ(c.find("se_block"), std::string::npos) << c << " was kept float by the pattern, not analysed";
    EXPECT_NEAR(l["recovered"].get<double>(), l["ap"].get<double>() - quantized, 1e-12) << c;
  }
  // blocks.2 of MobileNetV3-Small: expand, res_conv1, linear (its SE skipped); extra_blocks.0: conv1, dw, conv2.
  EXPECT_EQ(convs.size(), 6u) << j.dump(1);
  ASSERT_EQ(j["cumulative"].size(), 3u);  // 1, 2 and 4 convs float together
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(j["cumulative"][k]["float_convs"].size(), size_t{1} << k);

  // The float AP it reports is the float model's, as `compress eval` measures it.
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + float_w + " --out " + d.file("stats.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto stats = nlohmann::json::parse(testutil::read_text(d.file("stats.json")));
  EXPECT_NEAR(j["float_ap"].get<double>(), stats["AP"].get<double>(), 1e-9);

  // AIMET's other per-layer analysis: each conv quantized alone, the rest float,
  // in a folder of its own; the same calibration gives the same two end points.
  r = testutil::run_cli(analyze + " --analyze_mode quant_one");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| quantized alone (the rest float) | AP | vs float |"), std::string::npos) << r.output;
  const auto q1 = nlohmann::json::parse(testutil::read_text(
      (fs::path(d.file("out")) / "recipe_quant_analysis_quant_one" / "quant_analysis.json").string()));
  EXPECT_EQ(q1["mode"], "quant_one");
  EXPECT_NEAR(q1["float_ap"].get<double>(), j["float_ap"].get<double>(), 1e-12);
  EXPECT_NEAR(q1["quant_ap"].get<double>(), quantized, 1e-12);
  ASSERT_EQ(q1["layers"].size(), 6u);
  for (const auto& l : q1["layers"])
    EXPECT_NEAR(l["lost"].get<double>(), q1["float_ap"].get<double>() - l["ap"].get<double>(), 1e-12) << l.dump();
  ASSERT_EQ(q1["cumulative"].size(), 3u);
  r = testutil::run_cli(analyze + " --analyze_mode float_two");
  EXPECT_EQ(r.code, 2) << r.output;

  // A rerun reuses every measured conv.
  r = testutil::run_cli(analyze);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: 6 convs already measured"), std::string::npos) << r.output;

  // Under a launcher the ranks share the evaluations (the 2 end points, 6 convs
  // and 3 cumulative rows on 2 ranks); rank 0 writes and prints the same analysis.
  r = testutil::run_shell(testutil::source_path("tools/dist_train.sh") + " --master_port " +
                          std::to_string(testutil::test_port(17)) + " 2 " + COMPRESS_BINARY + " " + analyze +
                          " --run-dir " + d.file("two"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(testutil::count_of(r.output, "| kept float | AP | vs all quantized |"), 1u) << r.output;
  const auto two = nlohmann::json::parse(testutil::read_text(d.file("two/quant_analysis.json")));
  for (const std::string k : {"float_ap", "quant_ap"})
    EXPECT_NEAR(two[k].get<double>(), j[k].get<double>(), 1e-12) << k;
  ASSERT_EQ(two["layers"].size(), j["layers"].size());
  for (size_t i = 0; i < j["layers"].size(); ++i) {
    EXPECT_EQ(two["layers"][i]["conv"], j["layers"][i]["conv"]) << i;  // module order
    EXPECT_NEAR(two["layers"][i]["ap"].get<double>(), j["layers"][i]["ap"].get<double>(), 1e-12) << i;
  }
  ASSERT_EQ(two["cumulative"].size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(two["cumulative"][k]["float_convs"], j["cumulative"][k]["float_convs"]) << k;
    EXPECT_NEAR(two["cumulative"][k]["ap"].get<double>(), j["cumulative"][k]["ap"].get<double>(), 1e-12) << k;
  }
  EXPECT_EQ(two["suggested_not_quant_pattern"], j["suggested_not_quant_pattern"]);

  // Other bits, or other evaluation images, are other numbers: measured again.
  // EvalReader.dataset.sample_num evaluates on the first images only, as `compress eval` would.
  const std::string one =
      "quant -c " + cfg + " --analyze --analyze_layers extra_blocks.0.conv1" + o + " -o pretrain_weights=" + float_w;
  r = testutil::run_cli(one + " -o quant.weight_bits=4");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("measuring every conv again"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text((run / "quant_analysis.json.prev").string()))["layers"].size(),
            6u);  // the 8-bit analysis, kept
  r = testutil::run_cli(one + " -o EvalReader.dataset.sample_num=3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("measuring every conv again"), std::string::npos) << r.output;
  const auto j3 = nlohmann::json::parse(testutil::read_text((run / "quant_analysis.json").string()));
  EXPECT_EQ(j3["eval_images"].get<int64_t>(), 3);
  r = testutil::run_cli("eval -c " + cfg + o + " -w " + float_w + " --out " + d.file("stats3.json") +
                        " -o EvalReader.dataset.sample_num=3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NEAR(j3["float_ap"].get<double>(),
              nlohmann::json::parse(testutil::read_text(d.file("stats3.json")))["AP"].get<double>(), 1e-9);
  // A file cut short (a disk filled up) is measured again, and kept aside.
  testutil::write_text((run / "quant_analysis.json").string(), "{\"key\": {\"weights\": ");
  r = testutil::run_cli(one + " -o EvalReader.dataset.sample_num=3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("is unreadable"), std::string::npos) << r.output;
  EXPECT_EQ(testutil::read_text((run / "quant_analysis.json.prev").string()), "{\"key\": {\"weights\": ");

  r = testutil::run_cli("quant -c " + cfg + " --analyze --analyze_layers blocks.2.expnd" + o +
                        " -o pretrain_weights=" + float_w);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'blocks.2.expnd' matches no quantized conv"), std::string::npos) << r.output;
  r = testutil::run_cli("quant -c " + cfg + " --analyze --post" + o + " -o pretrain_weights=" + float_w);
  EXPECT_EQ(r.code, 2) << r.output;
  r = testutil::run_cli("quant -c " + cfg + " --analyze" + o);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("pretrain_weights"), std::string::npos) << r.output;
}
