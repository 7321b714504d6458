// Pruning criteria against naive O(n^2) references, parameter-name resolution,
// the optimizer state and gradients shrinking with the model, pruned shapes
// surviving a checkpoint, and the reference recipe on the real YOLOv3.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "compress/model_io.h"
#include "compress/prune/names.h"
#include "compress/prune/pruner.h"
#include "compress/prune/report.h"
#include "compress/prune/sensitivity.h"
#include "compress/prune/trace.h"
#include "tests/prune_fixture.h"
#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/engine/optim_state.h"
#include "train/models/detector.h"
#include "train/models/layers.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::prune;

namespace {

constexpr double kMaxAbsErr = 1e-5;

using testutil::reference_head_specs;

Detector yolo_mnv3(int classes = 10) {
  return build_detector(
      config_from_string("", {"architecture=YOLOv3", "num_classes=" + std::to_string(classes), "use_gpu=false"}));
}

DependencyGraph trace_det(DetectorImpl& m, int64_t size) {
  return trace_graph(m, [&](const at::Tensor& x) { return m.forward(x); }, {1, 3, size, size});
}

// Four 1x1 filters over 2 inputs, set by hand: (O=4, I=2, 1, 1).
torch::Tensor hand_filters() {
  return torch::tensor({{3.0, 0.0}, {1.0, 1.0}, {-2.0, 0.5}, {0.9, 1.1}}, torch::kDouble).view({4, 2, 1, 1});
}

}  // namespace

TEST(PruneCriteria, L1NormMatchesNaiveSum) {
  const auto w = hand_filters();
  const auto s = make_criterion("l1_norm")(w);
  const double want[4] = {3.0, 2.0, 2.5, 2.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s[i].item<double>(), want[i], 1e-12);
  // Remove 2: the two 2.0s tie, broken by index; keep {0, 2}.
  EXPECT_EQ(kept_channels(s, 2), (std::vector<int64_t>{0, 2}));
}

TEST(PruneCriteria, FpgmMatchesNaivePairwiseDistances) {
  torch::manual_seed(3);
  const auto w = torch::randn({9, 4, 3, 3}, torch::kDouble);
  const auto s = make_criterion("geometry_median")(w);
  const auto f = w.reshape({9, -1});
  std::vector<std::pair<double, int64_t>> naive;
  for (int64_t i = 0; i < 9; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 9; ++j) {
      double d = 0;
      for (int64_t k = 0; k < f.size(1); ++k) d += std::pow(f[i][k].item<double>() - f[j][k].item<double>(), 2);
      sum += std::sqrt(d);
    }
    EXPECT_NEAR(s[i].item<double>(), sum, 1e-9) << i;
    naive.push_back({sum, i});
  }
  std::sort(naive.begin(), naive.end());
  std::vector<int64_t> keep;
  for (size_t i = 4; i < naive.size(); ++i) keep.push_back(naive[i].second);
  std::sort(keep.begin(), keep.end());
  EXPECT_EQ(kept_channels(s, 4), keep);
}

TEST(PruneCriteria, FpgmByHand) {
  // Distances between the 4 hand filters; the one nearest the others scores lowest.
  const auto s = make_criterion("geometry_median")(hand_filters());
  auto d = [](double ax, double ay, double bx, double by) { return std::hypot(ax - bx, ay - by); };
  const double f[4][2] = {{3, 0}, {1, 1}, {-2, 0.5}, {0.9, 1.1}};
  for (int i = 0; i < 4; ++i) {
    double sum = 0;
    for (int j = 0; j < 4; ++j) sum += d(f[i][0], f[i][1], f[j][0], f[j][1]);
    EXPECT_NEAR(s[i].item<double>(), sum, 1e-12);
  }
  EXPECT_EQ(kept_channels(s, 1), (std::vector<int64_t>{0, 2, 3}));  // filter 1 sits nearest the median
}

TEST(PruneCriteria, UnknownNameListsTheValidOnes) {
  try {
    make_criterion("l2_norm");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("l1_norm, geometry_median"), std::string::npos) << e.what();
  }
}

TEST(PruneNames, ReferenceSpellingGlobsAndErrors) {
  const std::vector<std::string> w = {"yolo_block.0.0.0.conv.weight", "yolo_block.0.0.1.conv.weight",
                                      "yolo_block.1.0.0.conv.weight", "yolo_output.0.conv.weight"};
  auto specs = resolve_specs({"yolo_block.0.0.0.conv.weights", "yolo_block.1.0.0.conv.weight"}, {0.5, 0.75}, w);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].conv, "yolo_block.0.0.0.conv");
  EXPECT_DOUBLE_EQ(specs[1].ratio, 0.75);
  specs = resolve_specs({"yolo_block.0.*"}, {0.5}, w);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[1].conv, "yolo_block.0.0.1.conv");
  auto message = [&](const std::vector<std::string>& n, const std::vector<double>& r) {
    try {
      resolve_specs(n, r, w);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"yolo_block.0.0.0.cnv.weights"}, {0.5}).find("closest: yolo_block.0.0.0.conv.weight"),
            std::string::npos);
  EXPECT_NE(message({"yolo_block.0.0.0.conv.weight", "yolo_block.0.0.1.conv.weight"}, {0.5, 0.5, 0.5}).find("3 values"),
            std::string::npos);
  EXPECT_NE(message({"nothing.*"}, {0.5}).find("matches no"), std::string::npos);
  EXPECT_NE(message({"yolo_block.0.*", "yolo_block.0.0.0.conv.weight"}, {0.5}).find("named twice"), std::string::npos);
  EXPECT_THROW(parse_ratios({"1.0"}), Error);
  EXPECT_THROW(parse_ratios({"-0.1"}), Error);
  EXPECT_THROW(parse_ratios({"0.5x"}), Error);
  EXPECT_THROW(split_list("a,,b", "--pruned_params"), Error);
  EXPECT_EQ(split_list(" a, b ", "x"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(glob_match("yolo_*.conv.weight", "yolo_block.0.tip.conv.weight"));
  EXPECT_FALSE(glob_match("yolo_*.bn.weight", "yolo_block.0.tip.conv.weight"));
}

TEST(PruneNames, RatioLeavingNoChannelKeepsOne) {
  auto a = ConvBNLayer(ConvBNOptions(3, 2, 1, 1, 1, Act::ReLU));
  auto b = ConvBNLayer(ConvBNOptions(2, 3, 1, 1, 1, Act::None, false));
  struct Net : torch::nn::Module {
    ConvBNLayer a, b;
    Net(ConvBNLayer a_, ConvBNLayer b_) : a(register_module("a", a_)), b(register_module("b", b_)) {}
  };
  auto n = std::make_shared<Net>(a, b);
  const auto g =
      trace_graph(*n, [&](const at::Tensor& x) { return std::vector<at::Tensor>{n->b(n->a(x))}; }, {1, 3, 4, 4});
  const auto plan = plan_pruning(*n, g, {{"a.conv", 0.9}}, make_criterion("l1_norm"));  // round(1.8) = 2 of 2
  EXPECT_EQ(plan.groups[0].after, 1);
}

// Mobile kernels pack channels in blocks of 4, 8 or 16; a sensitivity-chosen
// ratio leaves arbitrary counts, which prune.round_to rounds to the nearest block.
TEST(PruneNames, KeptChannelsRoundToBlocks) {
  EXPECT_EQ(kept_count(96, 0.6137), 37);      // 96 - round(58.9)
  EXPECT_EQ(kept_count(96, 0.6137, 8), 40);   // 37 -> the nearest multiple of 8
  EXPECT_EQ(kept_count(96, 0.6137, 16), 32);  // 37 -> 32 (48 is further)
  EXPECT_EQ(kept_count(96, 0.5625, 16), 48);  // 42 -> halves round up
  EXPECT_EQ(kept_count(12, 0.1, 8), 8);       // 11 -> 8
  EXPECT_EQ(kept_count(12, 0.0, 8), 12);      // no pruning asked: nothing rounded
  EXPECT_EQ(kept_count(10, 0.95, 8), 8);      // keep 1 -> one block at least
  EXPECT_EQ(kept_count(6, 0.5, 8), 6);        // a group smaller than a block stays whole
  EXPECT_EQ(kept_count(2, 0.9), 1);           // never none

  auto m = yolo_mnv3();
  const auto graph = trace_det(*m, 64);
  const auto plan = plan_pruning(*m, graph, {{"yolo_block.0.0.0.conv", 0.6}, {"yolo_block.1.0.0.conv", 0.3}},
                                 make_criterion("l1_norm"), 8);
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.groups[0].after, kept_count(plan.groups[0].before, 0.6, 8));
  for (const auto& g : plan.groups) EXPECT_EQ(g.after % 8, 0) << g.conv << " keeps " << g.after;
  apply_plan(*m, plan);
  EXPECT_EQ(m->named_parameters()["yolo_block.0.0.0.conv.weight"].size(0), plan.groups[0].after);
  torch::NoGradGuard ng;
  m->eval();
  EXPECT_EQ(m->forward(torch::randn({1, 3, 64, 64})).size(), 3u);
  try {
    plan_pruning(*m, trace_det(*m, 64), {{"yolo_block.2.0.0.conv", 0.5}}, make_criterion("l1_norm"), 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("prune.round_to is 0"), std::string::npos) << e.what();
  }
}

TEST(PruneOptimizer, StateAndGradientsShrinkWithTheModel) {
  for (const std::string kind : {"sgd", "adam"}) {
    auto m = yolo_mnv3();
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (kind == "sgd")
      opt = std::make_unique<torch::optim::SGD>(m->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    else
      opt = std::make_unique<torch::optim::Adam>(m->parameters(), torch::optim::AdamOptions(0.01));
    m->train();
    auto step = [&] {
      opt->zero_grad();
      torch::Tensor loss = torch::zeros({});
      for (const auto& o : m->forward(torch::randn({2, 3, 64, 64}))) loss = loss + o.pow(2).mean();
      loss.backward();
      opt->step();
    };
    step();
    const auto graph = trace_det(*m, 64);  // still alive while slicing and training below
    const auto plan = plan_pruning(*m, graph, {{"yolo_block.0.0.0.conv", 0.75}}, make_criterion("l1_norm"));
    const torch::Tensor w = m->named_parameters()["yolo_block.0.0.0.conv.weight"];  // shares the parameter
    const auto old_state = [&] {
      auto* st = optimizer_param_state(*opt, w);
      EXPECT_NE(st, nullptr);
      if (kind == "sgd") return static_cast<torch::optim::SGDParamState&>(*st).momentum_buffer().clone();
      return static_cast<torch::optim::AdamParamState&>(*st).exp_avg().clone();
    }();
    const auto kept = apply_plan(*m, plan, opt.get());
    auto* st = optimizer_param_state(*opt, w);
    ASSERT_NE(st, nullptr);
    const auto buf = kind == "sgd" ? static_cast<torch::optim::SGDParamState&>(*st).momentum_buffer()
                                   : static_cast<torch::optim::AdamParamState&>(*st).exp_avg();
    EXPECT_EQ(buf.sizes().vec(), w.sizes().vec()) << kind;
    EXPECT_EQ(w.size(0), 128);
    EXPECT_EQ(w.grad().sizes().vec(), w.sizes().vec());
    // The state rows kept are the old rows at the kept indices.
    const auto idx = torch::tensor(kept.at("yolo_block.0.0.0.conv.out"), torch::kLong);
    EXPECT_TRUE(torch::equal(buf, old_state.index_select(0, idx))) << kind;
    // The consumer's input axis shrank too.
    EXPECT_EQ(m->named_parameters()["yolo_block.0.0.1.conv.weight"].size(1), 128);
    step();  // trains on: shapes, grads and state agree
    EXPECT_EQ(buf.sizes().vec(), w.sizes().vec());
  }
}

TEST(PruneYolo, ReferenceRecipeIsEquivalentToZeroedChannels) {
  // Zeroing BN's gamma and beta of a removed channel makes its activated output
  // exactly 0 (LeakyReLU(0) = 0): the unpruned model then computes what the
  // pruned one does.
  auto m = yolo_mnv3();
  torch::manual_seed(5);
  {
    torch::NoGradGuard ng;
    for (const auto& item : m->named_modules("", false))
      if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) {
        bn->running_mean.normal_(0, 0.2);
        bn->running_var.uniform_(0.5, 1.5);
        bn->bias.normal_(0.2, 0.3);
      }
  }
  m->eval();
  const auto x = torch::randn({1, 3, 96, 96});
  const auto graph = trace_det(*m, 64);
  const auto plan = plan_pruning(*m, graph, reference_head_specs(), make_criterion("geometry_median"));
  std::vector<torch::Tensor> want, got;
  {
    torch::NoGradGuard ng;
    auto masked = build_detector(config_from_string("", {"architecture=YOLOv3", "num_classes=10", "use_gpu=false"}));
    auto src = m->named_parameters();
    for (auto& p : masked->named_parameters()) p.value().copy_(src[p.key()]);
    auto bsrc = m->named_buffers();
    for (auto& b : masked->named_buffers()) b.value().copy_(bsrc[b.key()]);
    auto mp = masked->named_parameters();
    for (const auto& [module, removed] : plan.remove_out) {
      if (module.substr(module.size() - 5) != ".conv") continue;  // its BN, handled with the conv
      const std::string bn = module.substr(0, module.size() - 5) + ".bn";
      for (int64_t i : removed) {
        mp[bn + ".weight"][i] = 0;
        mp[bn + ".bias"][i] = 0;
      }
    }
    masked->eval();
    want = masked->forward(x);
  }
  apply_plan(*m, plan);
  {
    torch::NoGradGuard ng;
    got = m->forward(x);
  }
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].sizes(), want[i].sizes());
    EXPECT_LT((got[i] - want[i]).abs().max().item<double>(), kMaxAbsErr) << "scale " << i;
  }
}

TEST(PruneYolo, ReferenceRecipeCutsFlopsBy86Percent) {
  // The reference's "86%" is the whole model's FLOPs: the head list removes
  // 3/4 (7/8) of both the outputs and the inputs of its convs, so the head
  // alone keeps about 1/16 (1/64) of its FLOPs.
  auto m = yolo_mnv3(80);
  const auto r = prune_model(*m, reference_head_specs(), "l1_norm", 64);
  const double model_drop = 1.0 - double(r.flops_after) / double(r.flops_before);
  const double head_drop = 1.0 - double(r.head_flops_after) / double(r.head_flops_before);
  EXPECT_NEAR(model_drop, 0.86, 0.01) << r.table();
  EXPECT_GT(head_drop, 0.93) << r.table();
  EXPECT_EQ(r.layers.size(), 18u);
  EXPECT_EQ(r.layers[0].channels_before, 512);
  EXPECT_EQ(r.layers[0].channels_after, 128);
  // yolo_block.0.0.0 is 1x1 from the backbone's 960-channel conv_last... unpruned input,
  // output 512 -> 128: its own FLOPs fall by exactly 4x.
  EXPECT_EQ(r.layers[0].flops_before, 4 * r.layers[0].flops_after);
  // yolo_output.0 is never pruned but loses input channels (tip: 1024 -> 256).
  EXPECT_EQ(m->named_parameters()["yolo_output.0.conv.weight"].size(1), 256);
  EXPECT_EQ(m->named_parameters()["yolo_output.0.conv.weight"].size(0), 3 * 85);

  // Every conv, traced before and after: they add up to the totals, and the
  // convs that only read pruned channels are there too.
  int64_t before = 0, after = 0, changed = 0;
  std::map<std::string, ConvChange> by_name;
  for (const auto& c : r.convs) {
    before += c.flops_before, after += c.flops_after, changed += c.flops_after != c.flops_before;
    by_name[c.module] = c;
  }
  EXPECT_EQ(before, r.flops_before);
  EXPECT_EQ(after, r.flops_after);
  EXPECT_EQ(changed, 18 + 3 + 2);  // the pruned convs, the three yolo_outputs, the two transitions
  // yolo_output.0: 1x1 on the 2x2 map of a 64 px input, 255 outputs, inputs 1024 -> 256 (its bias
  // costs no FLOP in the reference's count).
  EXPECT_EQ(by_name.at("yolo_output.0.conv").flops_before, 2 * 2 * 255 * 1024);
  EXPECT_EQ(by_name.at("yolo_output.0.conv").flops_after, 2 * 2 * 255 * 256);
  // yolo_block.0.0.1: 3x3 without bias, 512 -> 1024 channels, both sides cut to a quarter.
  EXPECT_EQ(by_name.at("yolo_block.0.0.1.conv").flops_before, 2 * 2 * 1024 * (9 * 512));
  EXPECT_EQ(by_name.at("yolo_block.0.0.1.conv").flops_after, 2 * 2 * 256 * (9 * 128));
  EXPECT_EQ(by_name.at("backbone.conv1.conv").flops_after, by_name.at("backbone.conv1.conv").flops_before);
  const auto j = nlohmann::json::parse(r.to_json());
  ASSERT_EQ(j["convs"].size(), r.convs.size());
  EXPECT_EQ(j["convs"][0]["flops"][0].get<int64_t>(), r.convs[0].flops_before);
}

TEST(PruneCheckpoint, PrunedShapesReloadAndTrainResume) {
  testutil::TempDir dir;
  auto m = yolo_mnv3();
  prune_model(*m, reference_head_specs(), "geometry_median", 64);
  const auto cfg = config_from_string("", {"architecture=YOLOv3", "num_classes=10", "use_gpu=false"});
  Detector fresh = build_detector(cfg);
  TrainState st;
  st.arch = "YOLOv3";
  st.transforms = nlohmann::json{{"prune", nlohmann::json::parse(shapes_json(*m, *fresh))}}.dump();
  const std::string path = (dir.path() / "pruned.pt").string();
  save_checkpoint(path, *m, nullptr, st);
  // A plain build cannot take the pruned weights ...
  EXPECT_THROW(load_weights(path, *build_detector(cfg)), Error);
  // ... load_detector rebuilds the shapes from meta.transforms.
  auto back = load_detector(cfg, path);
  const auto a = m->named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  m->eval();
  back->eval();
  torch::NoGradGuard ng;
  const auto x = torch::randn({1, 3, 64, 64});
  EXPECT_TRUE(torch::allclose(m->forward(x)[2], back->forward(x)[2]));
  // A corrupt record names the checkpoint and the module.
  Detector bad = build_detector(cfg);
  try {
    apply_transforms(
        bad, ModelTransforms::from_json(R"({"prune": {"modules": {"yolo_block.0.0.0.conv": {"in": 960}}}})", "x.pt"),
        "x.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.pt"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("yolo_block.0.0.0.conv"), std::string::npos);
  }
}

TEST(PruneGroups, CoupledNamesAndUnprunableLayersAreErrors) {
  auto m = build_detector(config_from_string(
      "", {"num_classes=10", "use_gpu=false", "MobileNetV3.model_name=small", "MobileNetV3.scale=0.5"}));
  const auto g = trace_det(*m, 64);
  // A residual unit's linear conv is coupled with the unit before it.
  std::string residual;
  for (const auto& name : conv_weight_names(*m)) {
    const std::string conv = name.substr(0, name.size() - 7);
    const auto grp = g.group_of(conv);
    int producers = 0;
    for (const auto& mem : grp.members) producers += mem.kind == MemberKind::ConvOut;
    if (grp.blocked.empty() && producers >= 2) residual = conv;  // two linear convs added together
  }
  ASSERT_FALSE(residual.empty()) << "no residual group found in MobileNetV3-Small";
  const auto grp = g.group_of(residual);
  std::string other;
  for (const auto& mem : grp.members)
    if (mem.kind == MemberKind::ConvOut && mem.module != residual && mem.module.find("se_block") == std::string::npos)
      other = mem.module;
  ASSERT_FALSE(other.empty());
  try {
    plan_pruning(*m, g, {{residual, 0.5}, {other, 0.5}}, make_criterion("l1_norm"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("share one channel group"), std::string::npos) << e.what();
  }
  // SSD head convs feed a reshape to the output: not prunable, with the reason.
  const auto names = conv_weight_names(*m);
  const auto head =
      std::find_if(names.begin(), names.end(), [](const std::string& n) { return n.rfind("loc.0.pw", 0) == 0; });
  ASSERT_NE(head, names.end());
  try {
    plan_pruning(*m, g, {{head->substr(0, head->size() - 7), 0.5}}, make_criterion("l1_norm"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be pruned"), std::string::npos) << e.what();
  }
}

TEST(PruneSensitivity, RatiosByLossInterpolates) {
  Sensitivities s;
  s["a"] = {{0.1, 0.0}, {0.2, 0.01}, {0.3, 0.05}, {0.4, 0.2}};
  s["b"] = {{0.1, 0.5}, {0.2, 0.6}};    // never under the bound
  s["c"] = {{0.1, 0.0}, {0.2, 0.001}};  // always under: the largest ratio
  const auto r = ratios_by_loss(s, 0.02);
  EXPECT_NEAR(r.at("a"), 0.2 + (0.02 - 0.01) * 0.1 / 0.04, 1e-12);  // 0.225
  EXPECT_EQ(r.count("b"), 0u);
  EXPECT_DOUBLE_EQ(r.at("c"), 0.2);
  testutil::TempDir dir;
  const std::string path = (dir.path() / "s.json").string();
  write_sensitivities(path, s, 0.3);
  const auto back = read_sensitivities(path);
  EXPECT_NEAR(back.at("a").at(0.3), 0.05, 1e-12);
  plot_sensitivities(s, (dir.path() / "s.png").string());
  EXPECT_TRUE(std::filesystem::file_size(dir.path() / "s.png") > 1000);
  std::ofstream(dir.path() / "bad.json") << R"({"sensitivities": {"a": {"1.5": 0.1}}})";
  EXPECT_THROW(read_sensitivities((dir.path() / "bad.json").string()), Error);
}
