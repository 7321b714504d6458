// The README's quickstart, run as written on tiny settings: the block under the
// `<!-- quickstart` marker is read from README.md, its paths moved into a temp
// folder, and every config command given the same tiny model, data and step
// counts. A command renamed, a flag dropped or a path that no earlier command
// produces fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> quickstart_commands() {
  std::istringstream in(testutil::read_text(testutil::source_path("README.md")));
  std::vector<std::string> cmds;
  bool marker = false, block = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("<!-- quickstart", 0) == 0)
      marker = true;
    else if (marker && !block && line.rfind("```", 0) == 0)
      block = true;
    else if (block && line.rfind("```", 0) == 0)
      break;
    else if (block && !line.empty())
      cmds.push_back(line);
  }
  return cmds;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST(Quickstart, ReadmeCommandsRunAsWrittenOnTinySettings) {
  const auto cmds = quickstart_commands();
  ASSERT_EQ(cmds.size(), 5u) << "the README's quickstart is data, train, eval, quant, export";
  const std::vector<std::string> order = {"data", "train", "eval", "quant", "export"};
  testutil::TempDir d;
  const std::string data = d.file("data"), out = d.file("qs");
  std::string tiny;
  for (const std::string o :
       {"TrainReader.dataset.dataset_dir=" + data, "EvalReader.dataset.dataset_dir=" + data,
        std::string("MobileNetV3.scale=0.5"),
        std::string("MobileNetV3.extra_block_filters=[[16, 32], [16, 32], [16, 32], [16, 32]]"),
        std::string("TrainReader.sample_transforms.ResizeImage.target_size=96"),
        std::string("EvalReader.sample_transforms.ResizeImage.target_size=96"), std::string("TrainReader.batch_size=4"),
        std::string("EvalReader.batch_size=4"), std::string("max_iters=2"), std::string("snapshot_iter=2"),
        std::string("quant.max_iters=2"), std::string("quant.freeze_bn_iter=1"), std::string("quant.calib_batches=1")})
    tiny += " -o '" + o + "'";
  for (size_t i = 0; i < cmds.size(); ++i) {
    const std::string prefix = "build/compress " + order[i] + " ";
    ASSERT_EQ(cmds[i].rfind(prefix, 0), 0u) << "quickstart line " << i + 1 << ": " << cmds[i];
    std::string c = cmds[i].substr(std::string("build/compress ").size());
    c = replace_all(replace_all(c, "data/fashion_det", data), "output/quickstart", out);
    if (order[i] == "data") {
      // Tiny counts instead of 4,000 / 500 (the flags must be there to be replaced).
      ASSERT_NE(c.find("--train 4000"), std::string::npos) << c;
      ASSERT_NE(c.find("--val 500"), std::string::npos) << c;
      c = replace_all(replace_all(c, "--train 4000", "--train 16"), "--val 500", "--val 4");
    } else {
      c += tiny;
    }
    const auto r = testutil::run_cli(c);
    ASSERT_EQ(r.code, 0) << "quickstart line " << i + 1 << ": " << c << "\n" << r.output;
    if (order[i] == "eval")
      EXPECT_NE(r.output.find("Average Precision  (AP) @[ IoU=0.50:0.95"), std::string::npos) << r.output;
    if (order[i] == "quant") EXPECT_NE(r.output.find("eval @ 2: AP "), std::string::npos) << r.output;  // --eval
    if (order[i] == "export") EXPECT_NE(r.output.find("every layer's codes identical"), std::string::npos) << r.output;
  }
  EXPECT_TRUE(fs::exists(out + "/float/model_final.pt"));
  EXPECT_TRUE(fs::exists(out + "/qat/model_final.pt"));
  EXPECT_TRUE(fs::exists(out + "/ssdlite_small_int8.onnx"));
}
