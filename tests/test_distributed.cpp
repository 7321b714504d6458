// Multi-process training on c10d/Gloo, run here on CPU through the launcher:
// 2 processes x batch B/2 end where 1 process x batch B does, QAT scales agree
// across ranks, one process writes, evaluation is shared, a killed rank stops
// the others, commands that do not share their work refuse a launcher, and the
// launcher sets torchrun's variables.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "compress/model_io.h"
#include "tests/train_fixture.h"
#include "train/config/config.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/shared_jobs.h"
#include "train/engine/sync_bn.h"
#include "train/models/detector.h"
#include "train/util/error.h"

using namespace compress;
namespace fs = std::filesystem;

namespace {

constexpr double kMaxAbsErr = 1e-5;

std::string launcher() { return testutil::source_path("tools/dist_train.sh"); }
int free_port(int offset) { return testutil::test_port(offset); }
testutil::CliResult sh(const std::string& cmd) { return testutil::run_shell(cmd); }
// `compress ARGS` in n processes under the launcher, on the test's port `port`.
testutil::CliResult launch(int n, int port, const std::string& args) {
  return sh(launcher() + " --master_port " + std::to_string(free_port(port)) + " " + std::to_string(n) + " " +
            COMPRESS_BINARY + " " + args);
}

struct DistSetup {
  testutil::TempDir d;
  std::vector<std::string> overrides;
  std::string flags;
  DistSetup() {
    testutil::make_tiny_fashion(d, 8, 96);
    overrides = testutil::tiny_yolo_overrides(d, 64);
    for (const std::string s : {"max_iters=3", "snapshot_iter=1000", "log_iter=1", "freeze_bn=true", "use_gpu=false",
                                "LearningRate.base_lr=0.01", "LearningRate.schedulers=[]", "TrainReader.worker_num=1",
                                "TrainReader.shuffle=true", "threads=1", "distributed.timeout_s=20"})
      overrides.push_back(s);
    for (const auto& s : overrides) flags += " -o '" + s + "'";
  }
  std::map<std::string, torch::Tensor> weights(const std::string& ckpt) {
    auto m = load_detector(config_from_string("", overrides), ckpt);
    std::map<std::string, torch::Tensor> w;
    for (const auto& p : m->named_parameters()) w[p.key()] = p.value();
    for (const auto& b : m->named_buffers()) w[b.key()] = b.value();
    return w;
  }
};

double max_diff(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                const std::string& only = "") {
  double m = 0;
  std::string worst;
  for (const auto& [k, v] : a)
    if (only.empty() || k.find(only) != std::string::npos) {
      const double d = (v.to(torch::kDouble) - b.at(k).to(torch::kDouble)).abs().max().item<double>();
      if (d > m) m = d, worst = k;
    }
  if (m > 1e-5) std::cout << "largest difference " << m << " in " << worst << "\n";
  return m;
}

}  // namespace

TEST(Distributed, EnvironmentVariables) {
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_PORT", "1234", 1);
  auto e = dist_env_from_environment();
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_port, 1234);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  setenv("RANK", "4", 1);
  EXPECT_THROW(dist_env_from_environment(), Error);
  setenv("RANK", "x", 1);
  try {
    dist_env_from_environment();
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("RANK"), std::string::npos);
  }
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT"}) unsetenv(v);
  EXPECT_FALSE(dist_env_from_environment().enabled());
}

TEST(Distributed, LauncherSetsTorchrunVariables) {
  auto r = sh(launcher() +
              " --nnodes 2 --node_rank 1 --master_port 29555 2 sh -c "
              "'echo vars $RANK $LOCAL_RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("vars 2 0 4 127.0.0.1 29555"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("vars 3 1 4 127.0.0.1 29555"), std::string::npos) << r.output;
  EXPECT_EQ(sh(launcher() + " --node_rank 2 2 true").code, 2);
  EXPECT_EQ(sh(launcher() + " two true").code, 2);
  r = sh("DIST_GRACE_S=1 " + launcher() + " 2 sh -c 'if [ $RANK = 1 ]; then exit 7; fi; sleep 30'");
  EXPECT_EQ(r.code, 7) << r.output;  // and the sleeping rank was stopped, not waited for
}

TEST(Distributed, TwoProcessesMatchOneProcessWithTheWholeBatch) {
  DistSetup s;
  auto one =
      testutil::run_cli("train -c /dev/null" + s.flags + " -o TrainReader.batch_size=4 --run-dir " + s.d.file("one"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto half =
      testutil::run_cli("train -c /dev/null" + s.flags + " -o TrainReader.batch_size=2 --run-dir " + s.d.file("half"));
  ASSERT_EQ(half.code, 0) << half.output;
  auto two = launch(2, 1, "train -c /dev/null" + s.flags + " -o TrainReader.batch_size=2 --run-dir " + s.d.file("two"));
  ASSERT_EQ(two.code, 0) << two.output;
  const auto w1 = s.weights(s.d.file("one/model_final.pt"));
  const auto w2 = s.weights(s.d.file("two/model_final.pt"));
  const auto wh = s.weights(s.d.file("half/model_final.pt"));
  EXPECT_LT(max_diff(w1, w2), kMaxAbsErr);
  EXPECT_GT(max_diff(w1, wh), 1e-4) << "a half batch alone must differ, or the test proves nothing";
  // One writer: every logged step appears once in metrics.jsonl.
  std::ifstream in(s.d.file("two/metrics.jsonl"));
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += !l.empty();
  EXPECT_EQ(lines, 3);
  EXPECT_EQ(two.output.find("iter 1/3"), two.output.rfind("iter 1/3")) << "rank 1 must not log progress";
  // The 2-process run resumes in one process (and the reverse would as well:
  // checkpoints hold no per-rank state).
  auto resumed = testutil::run_cli("train -c /dev/null" + s.flags + " -o TrainReader.batch_size=4 -o max_iters=4 -r " +
                                   s.d.file("two/latest.pt") + " --run-dir " + s.d.file("two"));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("at iteration 3"), std::string::npos) << resumed.output;
}

// `compress ARGS` once in one process (ONE appended, into run dir d1) and once
// in two under the launcher (TWO appended, into d2); both must succeed.
std::pair<testutil::CliResult, testutil::CliResult> one_and_two(const DistSetup& s, const std::string& args,
                                                                const std::string& one, const std::string& two,
                                                                int port) {
  auto r1 = testutil::run_cli(args + s.flags + one + " --run-dir " + s.d.file("d1"));
  EXPECT_EQ(r1.code, 0) << r1.output;
  auto r2 = launch(2, port, args + s.flags + two + " --run-dir " + s.d.file("d2"));
  EXPECT_EQ(r2.code, 0) << r2.output;
  return {r1, r2};
}

TEST(Distributed, QatScalesAreTheMaxOverAllRanks) {
  // Each rank sees half the batch; the observers all-reduce the max, so the
  // scales equal those of one process seeing the whole batch.
  DistSetup s;
  const auto [one, two] = one_and_two(s, "quant -c /dev/null -o quant.max_iters=3 -o quant.freeze_bn_iter=0",
                                      " -o TrainReader.batch_size=4", " -o TrainReader.batch_size=2", 2);
  if (one.code != 0 || two.code != 0) return;
  const auto a = s.weights(s.d.file("d1/model_final.pt")), b = s.weights(s.d.file("d2/model_final.pt"));
  EXPECT_LT(max_diff(a, b, "act_scale"), 1e-6);
  EXPECT_LT(max_diff(a, b), kMaxAbsErr);
}

TEST(Distributed, PostTrainingQuantizationHasOneWriterAndOneProcessScales) {
  // PTQ under the launcher: every rank calibrates on the same batches, the
  // evaluation is shared, and rank 0 alone reports and saves what one process saves.
  DistSetup s;
  const auto [one, two] = one_and_two(s, "quant -c /dev/null --post --eval -o quant.calib_batches=2", "", "", 8);
  if (one.code != 0 || two.code != 0) return;
  const auto a = s.weights(s.d.file("d1/model_final.pt")), b = s.weights(s.d.file("d2/model_final.pt"));
  EXPECT_LT(max_diff(a, b), 1e-7);
  const std::regex ap_re("PTQ eval: AP [0-9.]+ AP50 [0-9.]+");
  std::smatch m1, m2;
  ASSERT_TRUE(std::regex_search(one.output, m1, ap_re)) << one.output;
  ASSERT_TRUE(std::regex_search(two.output, m2, ap_re)) << two.output;
  EXPECT_EQ(m1.str(), m2.str());  // the sharded evaluation scores as one process
  EXPECT_EQ(testutil::count_of(two.output, m2.str()), 1u) << two.output;
  EXPECT_EQ(testutil::count_of(two.output, "PTQ model in"), 1u) << two.output;
}

TEST(Distributed, MergedShardsCountEveryImageOnce) {
  // 5 images on 2 ranks: rank 0 runs 0, 2, 4 and rank 1 runs 1, 3 and, wrapping
  // around, 0 again; rank 1's detections of image 0 must go.
  auto det = [](int64_t image, double score) {
    CocoDetection d;
    d.image_id = image, d.category_id = 1, d.score = score;
    return d;
  };
  const std::vector<std::vector<int64_t>> ids{{10, 12, 14}, {11, 13, 10}};
  const std::vector<std::vector<CocoDetection>> dets{{det(10, 0.9), det(12, 0.8), det(12, 0.7)},
                                                     {det(11, 0.6), det(10, 0.9), det(13, 0.5)}};
  const auto m = merge_eval_shards(ids, dets);
  ASSERT_EQ(m.size(), 5u);  // image 14 has none; rank 1's image-10 box is the duplicate
  std::vector<std::pair<int64_t, double>> got;
  for (const auto& d : m) got.emplace_back(d.image_id, d.score);
  EXPECT_EQ(got, (std::vector<std::pair<int64_t, double>>{{10, 0.9}, {12, 0.8}, {12, 0.7}, {11, 0.6}, {13, 0.5}}));
  EXPECT_THROW(merge_eval_shards(ids, {dets[0]}), c10::Error);
}

TEST(Distributed, ShardedEvaluationEqualsOneProcess) {
  // 3 ranks share the 8 eval images (3 each, one run twice); rank 0 merges and
  // scores. One process evaluating the saved final model must get the same
  // detections and the same 12 statistics.
  DistSetup s;
  auto three =
      launch(3, 4,
             "train -c /dev/null" + s.flags +
                 " -o TrainReader.batch_size=2 -o EvalReader.batch_size=2 --eval --run-dir " + s.d.file("three"));
  ASSERT_EQ(three.code, 0) << three.output;
  auto one = testutil::run_cli("eval -c /dev/null" + s.flags + " -o EvalReader.batch_size=2 -w " +
                               s.d.file("three/model_final.pt") + " --out " + s.d.file("one.json") + " --dets-out " +
                               s.d.file("one_dets.json"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto sorted = [](std::vector<CocoDetection> v) {
    std::sort(v.begin(), v.end(), [](const CocoDetection& a, const CocoDetection& b) {
      return std::make_tuple(a.image_id, a.category_id, -a.score, a.bbox[0], a.bbox[1]) <
             std::make_tuple(b.image_id, b.category_id, -b.score, b.bbox[0], b.bbox[1]);
    });
    return v;
  };
  const auto a = sorted(read_coco_results(s.d.file("three/eval_dets.json")));
  const auto b = sorted(read_coco_results(s.d.file("one_dets.json")));
  ASSERT_GT(b.size(), 0u);
  ASSERT_EQ(a.size(), b.size());
  std::set<int64_t> images;
  for (size_t i = 0; i < a.size(); ++i) {
    images.insert(a[i].image_id);
    ASSERT_EQ(a[i].image_id, b[i].image_id) << i;
    ASSERT_EQ(a[i].category_id, b[i].category_id) << i;
    EXPECT_NEAR(a[i].score, b[i].score, 1e-5) << i;
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(a[i].bbox[k], b[i].bbox[k], 1e-3) << i;
  }
  EXPECT_GT(images.size(), 4u) << "detections from every rank's shard";
  // The statistics: the last eval record of the 3-process run against one process.
  std::ifstream in(s.d.file("three/metrics.jsonl"));
  nlohmann::json last;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && nlohmann::json::parse(l).value("kind", "") == "eval") last = nlohmann::json::parse(l);
  ASSERT_FALSE(last.is_null());
  std::ifstream oi(s.d.file("one.json"));
  const auto ref = nlohmann::json::parse(oi);
  for (const auto& name : CocoStats::names())
    EXPECT_NEAR(last.at(name).get<double>(), ref.at(name).get<double>(), 1e-9) << name;
}

TEST(Distributed, EvalCommandShardsAndRankZeroReports) {
  // `compress eval` of two checkpoints in 3 processes: each rank runs its share
  // of the 8 images, and rank 0 prints and writes the statistics one process does.
  DistSetup s;
  auto trained =
      testutil::run_cli("train -c /dev/null" + s.flags + " -o TrainReader.batch_size=2 --run-dir " + s.d.file("t"));
  ASSERT_EQ(trained.code, 0) << trained.output;
  const std::string args = "eval -c /dev/null" + s.flags + " -o EvalReader.batch_size=2 -w " +
                           s.d.file("t/model_final.pt") + " -w " + s.d.file("t/latest.pt") + " --classwise --out ";
  auto one = testutil::run_cli(args + s.d.file("one.json"));
  ASSERT_EQ(one.code, 0) << one.output;
  auto three = launch(3, 12, args + s.d.file("three.json"));
  ASSERT_EQ(three.code, 0) << three.output;
  const auto a = nlohmann::json::parse(testutil::read_text(s.d.file("one.json")));
  const auto b = nlohmann::json::parse(testutil::read_text(s.d.file("three.json")));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t m = 0; m < 2; ++m)
    for (const auto& name : CocoStats::names())
      EXPECT_NEAR(a[m].at(name).get<double>(), b[m].at(name).get<double>(), 1e-9) << m << " " << name;
  EXPECT_EQ(testutil::count_of(three.output, "per-category AP (x100)"), 1u) << three.output;
  EXPECT_EQ(testutil::count_of(three.output, "8 images in"), 2u) << three.output;  // the union, once per model
}

TEST(Distributed, OneProcessCommandsRefuseALauncher) {
  // Export (and the other commands that do not share their work) would run
  // whole in every process, each writing the same files.
  DistSetup s;
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "1", 1);
  const auto exp = testutil::run_cli("export -c /dev/null" + s.flags + " -w " + s.d.file("none.pt") + " --output " +
                                     s.d.file("m.onnx"));
  const auto files =
      testutil::run_cli("eval --gt " + s.d.file("annotations/instances_train.json") + " --dets " + s.d.file("x.json"));
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
  EXPECT_EQ(exp.code, 1) << exp.output;
  EXPECT_NE(exp.output.find("export runs in one process, but WORLD_SIZE is 2: run it without torchrun"),
            std::string::npos)
      << exp.output;
  EXPECT_FALSE(fs::exists(s.d.file("m.onnx")));
  EXPECT_EQ(files.code, 1) << files.output;
  EXPECT_NE(files.output.find("eval --gt/--dets scores files in one process, but WORLD_SIZE is 2"), std::string::npos)
      << files.output;
}

TEST(Distributed, AKilledRankStopsTheOthersNamingIt) {
  DistSetup s;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = sh("COMPRESS_FAULT_RANK=1 COMPRESS_FAULT_ITER=1 " + launcher() + " --master_port " +
              std::to_string(free_port(3)) + " 2 " + COMPRESS_BINARY + " train -c /dev/null" + s.flags +
              " -o TrainReader.batch_size=2 -o max_iters=50 --run-dir " + s.d.file("dead"));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_LT(secs, 60.0) << r.output;
  // Rank 0 notices by itself (not killed by the launcher) and names the rank.
  EXPECT_NE(r.output.find("rank 0: all-reduce failed: rank 1 (pid"), std::string::npos) << r.output;
}

TEST(SyncBn, OneProcessEqualsBatchNorm) {
  // With no process group the synchronized BN is plain BN: forward, running
  // statistics and every gradient.
  torch::manual_seed(0);
  torch::nn::BatchNorm2d a(torch::nn::BatchNorm2dOptions(5).momentum(0.1)),
      b(torch::nn::BatchNorm2dOptions(5).momentum(0.1));
  {
    torch::NoGradGuard ng;
    a->weight.uniform_(0.5, 1.5);
    a->bias.normal_();
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  const auto x0 = torch::randn({3, 5, 4, 6}) * 3 + 1;
  auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
  const auto w = torch::randn({3, 5, 4, 6});
  const auto y1 = a->forward(x1), y2 = sync_batch_norm(*b, x2);
  EXPECT_LT((y1 - y2).abs().max().item<double>(), 1e-5);
  (y1 * w).sum().backward();
  (y2 * w).sum().backward();
  EXPECT_LT((x1.grad() - x2.grad()).abs().max().item<double>(), 1e-5);
  EXPECT_LT((a->weight.grad() - b->weight.grad()).abs().max().item<double>(), 1e-4);
  EXPECT_LT((a->bias.grad() - b->bias.grad()).abs().max().item<double>(), 1e-4);
  EXPECT_LT((a->running_mean - b->running_mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT((a->running_var - b->running_var).abs().max().item<double>(), 1e-5);
}

namespace {

// The full batch both ranks slice: x (4, 5, 4, 6), upstream gradient w, BN affine terms.
struct SyncBnCase {
  torch::Tensor x, w, gamma, beta;
  SyncBnCase() {
    torch::manual_seed(11);
    x = torch::randn({4, 5, 4, 6}) * 2 + 0.5;
    w = torch::randn({4, 5, 4, 6});
    gamma = torch::rand({5}) + 0.5;
    beta = torch::randn({5});
  }
};

}  // namespace

// One rank: BN over its half of the batch with synchronized statistics; the
// loss is sum(y * w) over its half, so the ranks' losses add up to the full one.
int syncbn_worker(const char* out) {
  try {
    auto ctx = dist_init("gloo", 20.0);
    const int r = ctx ? ctx->rank() : 0, world = ctx ? ctx->world_size() : 1;
    SyncBnCase c;
    const int64_t per = 4 / world;
    torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(5).momentum(0.1));
    {
      torch::NoGradGuard ng;
      bn->weight.copy_(c.gamma);
      bn->bias.copy_(c.beta);
    }
    auto x = c.x.narrow(0, r * per, per).clone().requires_grad_(true);
    const auto y = sync_batch_norm(*bn, x);
    (y * c.w.narrow(0, r * per, per)).sum().backward();
    torch::save(std::vector<torch::Tensor>{y.detach(), x.grad(), bn->weight.grad(), bn->bias.grad(), bn->running_mean,
                                           bn->running_var},
                std::string(out) + "." + std::to_string(r));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "syncbn worker: %s\n", e.what());
    return 1;
  }
}

TEST(SyncBn, TwoRanksEqualOneBatchNormOnTheWholeBatch) {
  testutil::TempDir d;
  const std::string out = d.file("r");
  auto r = sh("COMPRESS_SYNCBN_WORKER_OUT=" + out + " " + launcher() + " --master_port " +
              std::to_string(free_port(6)) + " 2 " + fs::read_symlink("/proc/self/exe").string());
  ASSERT_EQ(r.code, 0) << r.output;
  SyncBnCase c;
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(5).momentum(0.1));
  {
    torch::NoGradGuard ng;
    bn->weight.copy_(c.gamma);
    bn->bias.copy_(c.beta);
  }
  auto x = c.x.clone().requires_grad_(true);
  const auto y = bn->forward(x);
  (y * c.w).sum().backward();
  std::vector<torch::Tensor> r0, r1;
  torch::load(r0, out + ".0");
  torch::load(r1, out + ".1");
  EXPECT_LT((torch::cat({r0[0], r1[0]}) - y).abs().max().item<double>(), 1e-5) << "forward";
  EXPECT_LT((torch::cat({r0[1], r1[1]}) - x.grad()).abs().max().item<double>(), 1e-5) << "input gradient";
  EXPECT_LT((r0[2] + r1[2] - bn->weight.grad()).abs().max().item<double>(), 1e-4) << "gamma gradient (summed)";
  EXPECT_LT((r0[3] + r1[3] - bn->bias.grad()).abs().max().item<double>(), 1e-4) << "beta gradient (summed)";
  EXPECT_LT((r0[4] - bn->running_mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT((r1[5] - bn->running_var).abs().max().item<double>(), 1e-5);
}

TEST(Distributed, TwoProcessesMatchOneProcessWithSyncBn) {
  // BN in training mode over the whole batch through SyncBN. One step of this
  // tiny YOLOv3 from scratch is ill-conditioned: the same single process run
  // with 2 threads instead of 1 (another float summation order, nothing else)
  // already moves the first conv's weights by ~3e-3. So SyncBN must match one
  // process to within that float noise, while 2 processes with per-rank BN
  // statistics must be off by orders of magnitude more.
  DistSetup s;
  auto flags_for = [&](const std::string& bn, const std::string& threads) {
    std::string flags;
    for (auto o : s.overrides) {
      if (o == "freeze_bn=true") o = bn;
      if (o == "max_iters=3") o = "max_iters=1";
      if (o == "threads=1") o = threads;
      flags += " -o '" + o + "'";
    }
    return flags;
  };
  for (const std::string t : {"threads=1", "threads=2"}) {
    auto one = testutil::run_cli("train -c /dev/null" + flags_for("sync_bn=true", t) +
                                 " -o TrainReader.batch_size=4 --run-dir " + s.d.file("one_" + t));
    ASSERT_EQ(one.code, 0) << one.output;
  }
  for (const std::string bn : {"sync_bn=true", "sync_bn=false"}) {
    auto two = launch(2, 7,
                      "train -c /dev/null" + flags_for(bn, "threads=1") + " -o TrainReader.batch_size=2 --run-dir " +
                          s.d.file("two_" + bn));
    ASSERT_EQ(two.code, 0) << two.output;
  }
  auto w = [&](const std::string& n) { return s.weights(s.d.file(n + "/model_final.pt")); };
  const auto one = w("one_threads=1");
  const double noise = max_diff(one, w("one_threads=2"));
  const double synced = max_diff(one, w("two_sync_bn=true"));
  const double per_rank = max_diff(one, w("two_sync_bn=false"));
  std::cout << "max |weight difference| after one step: 2 threads " << noise << ", 2 processes with SyncBN " << synced
            << ", 2 processes with per-rank BN " << per_rank << "\n";
  EXPECT_LT(synced, std::max(3 * noise, per_rank / 300));
  EXPECT_GT(per_rank, 100 * synced);
}

// One rank of the shared-jobs test: 5 jobs (job i gives i * i); each rank
// writes the jobs it ran and the results done() handed it. With
// COMPRESS_JOBS_SLOW a job takes 0.6 s against a 1 s timeout.
int jobs_worker(const char* out) {
  try {
    auto ctx = dist_init("gloo", 20.0);
    const bool slow = std::getenv("COMPRESS_JOBS_SLOW") != nullptr;
    std::ofstream f(std::string(out) + "." + std::to_string(ctx->rank()));
    run_shared_jobs(
        ctx.get(), 5, slow ? 1.0 : 60.0, "jobs test",
        [&](int64_t i) {
          f << "ran " << i << "\n";
          if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(600));
          return static_cast<double>(i * i);
        },
        [&](int64_t i, double v) { f << "done " << i << " " << v << "\n"; });
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jobs worker: %s\n", e.what());
    return 1;
  }
}

TEST(Distributed, SharedJobsGoRoundRobinAndEveryRankSeesEveryResult) {
  // One process: a plain loop.
  std::string log;
  run_shared_jobs(
      nullptr, 3, 1.0, "t",
      [&](int64_t i) {
        log += "ran " + std::to_string(i) + ";";
        return 2.0 * i;
      },
      [&](int64_t i, double v) { log += "done " + std::to_string(i) + "=" + std::to_string(int(v)) + ";"; });
  EXPECT_EQ(log, "ran 0;done 0=0;ran 1;done 1=2;ran 2;done 2=4;");
  // Two ranks, five jobs: rank 0 runs 0, 2, 4 and rank 1 runs 1, 3 and then,
  // idle in the last round, job 0 again, whose result it does not report.
  testutil::TempDir d;
  const std::string out = d.file("jobs"), self = fs::read_symlink("/proc/self/exe").string();
  auto r = sh("COMPRESS_JOBS_WORKER_OUT=" + out + " " + launcher() + " --master_port " + std::to_string(free_port(15)) +
              " 2 " + self);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string seen = "done 0 0\ndone 1 1\n", seen2 = "done 2 4\ndone 3 9\n", seen3 = "done 4 16\n";
  EXPECT_EQ(testutil::read_text(out + ".0"), "ran 0\n" + seen + "ran 2\n" + seen2 + "ran 4\n" + seen3);
  EXPECT_EQ(testutil::read_text(out + ".1"), "ran 1\n" + seen + "ran 3\n" + seen2 + "ran 0\n" + seen3);
  // Jobs that take more than half the timeout stop every rank after the first
  // round, whose results done() has already seen, with the value to set.
  r = sh("COMPRESS_JOBS_SLOW=1 COMPRESS_JOBS_WORKER_OUT=" + out + "s " + launcher() + " --master_port " +
         std::to_string(free_port(16)) + " 2 " + self);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("jobs test under a launcher: one evaluation takes about"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but distributed.timeout_s is 1 s: give it at least"), std::string::npos) << r.output;
  EXPECT_EQ(testutil::read_text(out + "s.0"), "ran 0\n" + seen);
  EXPECT_EQ(testutil::read_text(out + "s.1"), "ran 1\n" + seen);
}
