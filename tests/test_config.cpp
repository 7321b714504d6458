#include <gtest/gtest.h>

#include "compress/config_sections.h"
#include "compress/prune/criteria.h"
#include "compress/quant/quant_options.h"
#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/config/override_value.h"
#include "train/config/schema.h"
#include "train/config/schema_doc.h"
#include "train/data/reader.h"
#include "train/models/detector.h"
#include "train/util/error.h"

#include <algorithm>
#include <filesystem>
#include <set>

using compress::apply_override;
using compress::Config;
using compress::config_from_string;
using compress::load_config;
using compress::override_value;
using testutil::TempDir;
using testutil::write_text;

namespace {

// Expects `fn` to throw compress::Error whose message contains every fragment.
template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    FAIL() << "expected an error";
  } catch (const compress::Error& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

}  // namespace

TEST(Config, DefaultsFillEveryKey) {
  const Config cfg = compress::config_from_string("max_iters: 7");
  EXPECT_EQ(cfg.get<int>("max_iters"), 7);
  EXPECT_EQ(cfg.get<int>("snapshot_iter"), 500);  // schema default
  EXPECT_EQ(cfg.get<std::string>("OptimizerBuilder.optimizer.type"), "Momentum");
  EXPECT_DOUBLE_EQ(cfg.get<double>("OptimizerBuilder.optimizer.momentum"), 0.9);
  // Default train pipeline: the SSD augmentations, in the reference's order.
  const auto t = cfg.at("TrainReader.sample_transforms");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[0]["type"].as<std::string>(), "DistortImage");
  EXPECT_EQ(t[2]["type"].as<std::string>(), "CropImage");
  EXPECT_EQ(t[5]["type"].as<std::string>(), "NormalizeImage");
  EXPECT_DOUBLE_EQ(t[1]["max_ratio"].as<double>(), 4.0);
}

TEST(Config, BasesResolveRelativeToTheFileAndLaterKeysWin) {
  TempDir d;
  write_text(d.file("_base_/a.yml"), "max_iters: 10\nsnapshot_iter: 5\nLearningRate: {base_lr: 0.1}\n");
  write_text(d.file("_base_/b.yml"), "max_iters: 20\nTrainReader: {batch_size: 3}\n");
  write_text(d.file("exp/run.yml"),
             "_BASE_: [../_base_/a.yml, ../_base_/b.yml]\nsnapshot_iter: 6\nTrainReader: {shuffle: false}\n");
  const Config cfg = load_config(d.file("exp/run.yml"));
  EXPECT_EQ(cfg.get<int>("max_iters"), 20);     // b overrides a
  EXPECT_EQ(cfg.get<int>("snapshot_iter"), 6);  // the file overrides its bases
  EXPECT_DOUBLE_EQ(cfg.get<double>("LearningRate.base_lr"), 0.1);
  EXPECT_EQ(cfg.get<int>("TrainReader.batch_size"), 3);  // maps merge key by key
  EXPECT_FALSE(cfg.get<bool>("TrainReader.shuffle"));
}

TEST(Config, OverridesAreTypedAndApplyLast) {
  TempDir d;
  write_text(d.file("c.yml"), "max_iters: 10\n");
  const Config cfg =
      load_config(d.file("c.yml"),
                  {"max_iters=99", "LearningRate.base_lr=0.25", "TrainReader.sample_transforms.ExpandImage.prob=0.3",
                   "TrainReader.sample_transforms.5.is_scale=false",
                   "TrainReader.batch_transforms=[{type: RandomShape, sizes: [320, 352]}]"});
  EXPECT_EQ(cfg.get<int>("max_iters"), 99);
  EXPECT_DOUBLE_EQ(cfg.get<double>("LearningRate.base_lr"), 0.25);
  EXPECT_DOUBLE_EQ(cfg.at("TrainReader.sample_transforms")[1]["prob"].as<double>(), 0.3);
  EXPECT_FALSE(cfg.at("TrainReader.sample_transforms")[5]["is_scale"].as<bool>());
  const auto bt = cfg.at("TrainReader.batch_transforms");
  ASSERT_EQ(bt.size(), 1u);
  EXPECT_EQ(bt[0]["sizes"].as<std::vector<int>>(), (std::vector<int>{320, 352}));
  EXPECT_FALSE(bt[0]["random_inter"].as<bool>());  // default filled in
}

TEST(Config, TagsAndTypeKeysAreTheSame) {
  const Config a = compress::config_from_string(
      "TrainReader:\n  sample_transforms:\n    - !ResizeImage\n      target_size: 160\n    - !NormalizeImage {}\n");
  const Config b = compress::config_from_string(
      "TrainReader:\n  sample_transforms: [{type: ResizeImage, target_size: 160}, {type: NormalizeImage}]\n");
  EXPECT_EQ(a.dump(), b.dump());
  EXPECT_EQ(a.at("TrainReader.sample_transforms")[0]["target_size"].as<int>(), 160);
}

TEST(Config, UnknownKeyNamesFileKeyAndSuggestion) {
  TempDir d;
  write_text(d.file("bad.yml"), "TrainReader:\n  batch_sise: 4\n");
  expect_error([&] { load_config(d.file("bad.yml")); },
               {d.file("bad.yml"), "TrainReader.batch_sise", "did you mean 'batch_size'"});
}

TEST(Config, UnknownKeyInABaseNamesTheBase) {
  TempDir d;
  write_text(d.file("base.yml"), "max_iter: 4\n");
  write_text(d.file("top.yml"), "_BASE_: base.yml\n");
  expect_error([&] { load_config(d.file("top.yml")); }, {"base.yml", "max_iter", "did you mean 'max_iters'"});
}

TEST(Config, WrongTypeNamesKeyPathAndExpectedType) {
  TempDir d;
  write_text(d.file("t.yml"), "LearningRate:\n  base_lr: fast\n");
  expect_error([&] { load_config(d.file("t.yml")); }, {"t.yml", "LearningRate.base_lr", "expected float", "'fast'"});
  write_text(d.file("l.yml"), "TrainReader: {batch_transforms: [{type: RandomShape, sizes: [320, big]}]}\n");
  expect_error([&] { load_config(d.file("l.yml")); }, {"TrainReader.batch_transforms.0.sizes", "list of int"});
}

TEST(Config, InvalidChoiceListsValidOnes) {
  expect_error([] { compress::config_from_string("OptimizerBuilder: {optimizer: {type: Adamw}}"); },
               {"OptimizerBuilder.optimizer.type", "'Adamw'", "valid: Momentum, Adam"});
  expect_error([] { compress::config_from_string("TrainReader: {sample_transforms: [{type: Flip}]}"); },
               {"TrainReader.sample_transforms.0", "unknown type 'Flip'", "RandomFlipImage"});
}

TEST(Config, OutOfRangeValueNamesFileKeyAndRange) {
  TempDir d;
  write_text(d.file("n.yml"), "max_iters: 3\nTrainReader:\n  shuffle: true\n  batch_size: -3\n");
  expect_error([&] { load_config(d.file("n.yml")); },
               {d.file("n.yml"), "TrainReader.batch_size", "must be in [1, 4096], got -3"});
  // Probabilities are bounded on both sides; -o values are checked the same way.
  expect_error([] { compress::config_from_string("", {"quant.moving_rate=1.5"}); },
               {"-o quant.moving_rate", "must be in [0, 1], got 1.5"});
  expect_error(
      [] { compress::config_from_string("TrainReader: {sample_transforms: [!RandomFlipImage {prob: -0.1}]}"); },
      {"TrainReader.sample_transforms.0.prob", "in [0, 1]", "-0.1"});
  // A numeric list bounds every element.
  expect_error([] { compress::config_from_string("TrainReader: {batch_transforms: [!RandomShape {sizes: [96, 0]}]}"); },
               {"TrainReader.batch_transforms.0.sizes", "(every element) must be at least 1, got 0"});
  // The bounds themselves are inclusive.
  const Config ok =
      compress::config_from_string("TrainReader: {batch_size: 1, worker_num: 0}\nquant: {moving_rate: 1}\n");
  EXPECT_EQ(ok.get<int>("TrainReader.batch_size"), 1);
  EXPECT_DOUBLE_EQ(ok.get<double>("quant.moving_rate"), 1.0);
}

namespace {
// Walks a schema field and reports each default (of a bounded number or list)
// that lies outside its own bounds.
void defaults_within_bounds(const compress::config::Field& f, const std::string& path, std::vector<std::string>& bad) {
  using compress::config::Type;
  for (const auto& [k, c] : f.children) defaults_within_bounds(c, path + "." + k, bad);
  for (const auto& [k, v] : f.variants) defaults_within_bounds(v, path + "<" + k + ">", bad);
  if (!f.bounded()) return;
  std::vector<double> vals;
  if (f.type == Type::Int || f.type == Type::Float) vals.push_back(f.default_value.as<double>());
  if (f.type == Type::IntList || f.type == Type::FloatList)
    for (const auto& e : f.default_value) vals.push_back(e.as<double>());
  for (double v : vals)
    if (!(v >= f.min_value && v <= f.max_value)) bad.push_back(path + " = " + std::to_string(v));
}
}  // namespace

TEST(Config, EverySchemaDefaultIsWithinItsBounds) {
  std::vector<std::string> bad;
  defaults_within_bounds(compress::config::root_schema(), "", bad);
  EXPECT_TRUE(bad.empty()) << (bad.empty() ? "" : bad.front());
  // And the walk does see bounded fields: a few known ones.
  const auto* reader = compress::config::root_schema().child("TrainReader");
  ASSERT_NE(reader, nullptr);
  EXPECT_DOUBLE_EQ(reader->child("batch_size")->min_value, 1.0);
  EXPECT_DOUBLE_EQ(compress::config::root_schema().child("quant")->child("moving_rate")->max_value, 1.0);
}

TEST(Config, ModulesOwnTheirSectionsAndTheirChoiceLists) {
  // quant, prune, distill and pretrain come from their modules (added once, by
  // compose_config_schema); the choices are the lists the code parses with.
  const auto& root = compress::config::root_schema();
  for (const char* s : {"quant", "prune", "distill", "pretrain"}) EXPECT_NE(root.child(s), nullptr) << s;
  EXPECT_EQ(root.child("prune")->child("criterion")->choices, compress::prune::criterion_names());
  EXPECT_EQ(root.child("quant")->child("activation_quantize_type")->choices,
            compress::quant::activation_quantize_types());
  compress::compose_config_schema();  // idempotent
  EXPECT_THROW(compress::config::add_section("quant", compress::config::Section({})), std::logic_error);
}

TEST(Config, KeysDocumentTypeDefaultRangeAndMeaning) {
  using compress::config::document_keys;
  const auto quant = document_keys("quant");
  ASSERT_FALSE(quant.empty());
  for (const auto& k : quant) EXPECT_EQ(k.path.rfind("quant.", 0), 0u) << k.path;
  const auto it = std::find_if(quant.begin(), quant.end(), [](const auto& k) { return k.path == "quant.moving_rate"; });
  ASSERT_NE(it, quant.end());
  EXPECT_EQ(it->type, "float");
  EXPECT_EQ(it->value, "0.9");
  EXPECT_EQ(it->range, "in [0, 1]");
  EXPECT_NE(it->doc.find("decay"), std::string::npos);
  // Typed lists document each variant's keys; choices are listed.
  const auto tr = document_keys("TrainReader.sample_transforms");
  EXPECT_TRUE(std::any_of(tr.begin(), tr.end(), [](const auto& k) {
    return k.path == "TrainReader.sample_transforms.ExpandImage.prob" && k.range == "in [0, 1]";
  }));
  const auto opt = document_keys("OptimizerBuilder.optimizer.type");
  ASSERT_EQ(opt.size(), 1u);
  EXPECT_NE(opt[0].doc.find("one of: Momentum, Adam"), std::string::npos);
  // A whole key, not a string prefix: "max_iters" is the root key alone.
  EXPECT_EQ(document_keys("max_iters").size(), 1u);
  expect_error([] { document_keys("quantt"); }, {"no key 'quantt'", "did you mean 'quant'"});
  // Every documented plain key is one the loader accepts, set to its own default.
  int checked = 0;
  for (const auto& k : document_keys()) {
    if (k.in_variant || k.type == "list of typed maps" || k.type == "map with a type") continue;
    EXPECT_NO_THROW(compress::config_from_string("", {k.path + "=" + (k.value.empty() ? "''" : k.value)})) << k.path;
    ++checked;
  }
  EXPECT_GT(checked, 150);
  // Keys under a variant in the printed form (and in the older bracket form)
  // set that item of the recipe's list.
  const auto c = compress::config_from_string("", {"TrainReader.sample_transforms.ExpandImage.prob=0.25",
                                                   "TrainReader.sample_transforms[RandomFlipImage].prob=0.75",
                                                   "TrainReader.dataset.COCODataSet.image_dir=imgs"});
  EXPECT_EQ(c.get<std::string>("TrainReader.dataset.image_dir"), "imgs");
  EXPECT_TRUE(std::any_of(tr.begin(), tr.end(), [](const auto& k) { return k.in_variant; }));
  bool expand = false, crop = false;
  for (const auto& t : c.at("TrainReader.sample_transforms")) {
    if (t["type"].as<std::string>() == "ExpandImage") expand = t["prob"].as<double>() == 0.25;
    if (t["type"].as<std::string>() == "RandomFlipImage") crop = t["prob"].as<double>() == 0.75;
  }
  EXPECT_TRUE(expand);
  EXPECT_TRUE(crop);
  // The table: a header, then one line per key.
  const std::string table = compress::config::format_key_docs(quant);
  EXPECT_EQ(table.rfind("key ", 0), 0u);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), static_cast<long>(quant.size() + 1));
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  TempDir d;
  write_text(d.file("m.yml"), "max_iters: 3\nTrainReader: [1, 2\n");
  expect_error([&] { load_config(d.file("m.yml")); }, {d.file("m.yml") + ":", "malformed YAML"});
}

TEST(Config, MissingAndCircularBasesAreErrors) {
  TempDir d;
  write_text(d.file("x.yml"), "_BASE_: nothere.yml\n");
  expect_error([&] { load_config(d.file("x.yml")); }, {"x.yml", "_BASE_", "nothere.yml"});
  write_text(d.file("p.yml"), "_BASE_: q.yml\n");
  write_text(d.file("q.yml"), "_BASE_: p.yml\n");
  expect_error([&] { load_config(d.file("p.yml")); }, {"circular"});
  expect_error([&] { load_config(d.file("absent.yml")); }, {"absent.yml", "does not exist"});
}

TEST(Config, BadOverridesAreRejected) {
  expect_error([] { compress::config_from_string("", {"max_iter=3"}); }, {"-o max_iter", "did you mean 'max_iters'"});
  expect_error([] { compress::config_from_string("", {"max_iters=many"}); }, {"-o max_iters", "expected int"});
  expect_error([] { compress::config_from_string("", {"max_iters"}); }, {"key.path=value"});
  expect_error([] { compress::config_from_string("", {"TrainReader.sample_transforms.9.prob=1"}); },
               {"neither an index nor a type"});
}

TEST(Config, EveryShippedRecipeLoadsAndBuilds) {
  // Every recipe under configs/ (datasets/ holds fragments): the schema accepts
  // it, both readers' transforms build and pass their cross-field checks
  // (MixupImage), and its detector builds.
  namespace fs = std::filesystem;
  std::set<std::string> seen;
  for (const auto& e : fs::recursive_directory_iterator(testutil::source_path("configs"))) {
    if (e.path().extension() != ".yml" || e.path().parent_path().filename() == "datasets") continue;
    const std::string f = e.path().string();
    SCOPED_TRACE(f);
    const Config cfg = load_config(f);
    for (const char* reader : {"TrainReader", "EvalReader"}) EXPECT_NO_THROW(compress::reader_pipeline(cfg, reader));
    EXPECT_NO_THROW(compress::build_detector(cfg));
    seen.insert(fs::relative(e.path(), testutil::source_path("configs")).string());
  }
  EXPECT_GE(seen.size(), 14u);
  EXPECT_TRUE(seen.count("yolov3_mobilenet_v3.yml"));
  EXPECT_TRUE(seen.count("fashion/yolov3_mobilenet_v3_mixup.yml"));
}

TEST(Config, ShippedConfigsLoad) {
  for (const char* f : {"configs/datasets/fashion_det.yml", "configs/datasets/coco.yml"}) {
    const Config cfg = load_config(testutil::source_path(f));
    EXPECT_FALSE(cfg.get<std::string>("TrainReader.dataset.anno_path").empty()) << f;
  }
}

TEST(Config, OverrideValuesKeepEveryDigit) {
  // quant/prune/distill write their section's base_lr into LearningRate.base_lr
  // as text: std::to_string printed 6 decimals, so 1e-7 became 0.
  EXPECT_EQ(std::stod(std::to_string(1e-7)), 0.0);
  for (double v : {1e-7, 2e-4, 0.1, 3.0000000000000004, 1e-300}) {
    Config cfg = config_from_string("", {});
    apply_override(cfg, "LearningRate.base_lr=" + override_value(v));
    EXPECT_EQ(cfg.get<double>("LearningRate.base_lr"), v) << override_value(v);
  }
}
