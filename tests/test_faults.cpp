// Fault injection: what a hostile user, a full disk or a kill does to the CLI.
// Every case makes its own data (tiny configs, corrupted files) and asserts
// the contract: exit 0, 1 (runtime error naming the file or key) or 2 (usage
// error with the usage), never a signal, never a silent wrong result, and the
// previous outputs kept.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>

#include "tests/test_util.h"
#include "tests/train_fixture.h"
#include "train/data/coco_dataset.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"
#include "train/util/metrics_log.h"

namespace fs = std::filesystem;
using testutil::run_cli;

namespace {

// A tiny SSDLite training set-up on 8 images of 64 px: the flags for `train`.
struct TinyRun {
  testutil::TempDir d;
  std::string flags;
  explicit TinyRun(int max_iters = 2) {
    testutil::make_tiny_fashion(d, 8, 64);
    for (const auto& s : testutil::tiny_ssd_overrides(d, 64)) flags += " -o '" + s + "'";
    flags += " -o max_iters=" + std::to_string(max_iters) +
             " -o snapshot_iter=2 -o log_iter=1 -o threads=1 "
             "-o TrainReader.worker_num=0";
  }
  std::string train(const std::string& run_dir, const std::string& extra = "") const {
    return "train -c /dev/null" + flags + " --run-dir " + run_dir + extra;
  }
};

std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}

// A pid that belonged to a process that has exited.
pid_t dead_pid() {
  const pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return p;
}

}  // namespace

// --- outputs ---------------------------------------------------------------

TEST(AtomicFile, WritesThroughSymlinksAndRefusesSpecialFiles) {
  testutil::TempDir d;
  compress::write_file_atomic(d.file("real.json"), std::string("old"));
  fs::create_symlink(d.file("real.json"), d.file("link.json"));
  compress::write_file_atomic(d.file("link.json"), std::string("new"));
  EXPECT_TRUE(fs::is_symlink(d.file("link.json")));  // still a link
  EXPECT_EQ(testutil::read_text(d.file("real.json")), "new");
  // /dev/full stays a device; a folder and '' are refused by name.
  try {
    compress::write_file_atomic("/dev/full", std::string("x"));
    ADD_FAILURE() << "/dev/full accepted";
  } catch (const compress::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  EXPECT_THROW(compress::write_file_atomic(d.path().string(), std::string("x")), compress::Error);
  EXPECT_THROW(compress::write_file_atomic("", std::string("x")), compress::Error);
  EXPECT_TRUE(temp_files(d.path()).empty());
}

TEST(AtomicFile, RemovesTheTempFilesOfDeadProcessesOnly) {
  testutil::TempDir d;
  const std::string target = d.file("latest.pt");
  const std::string stale = target + ".tmp." + std::to_string(dead_pid());
  const std::string live = target + ".tmp." + std::to_string(getppid());  // a running process
  testutil::write_text(stale, std::string(1000, 'x'));
  testutil::write_text(live, "");
  compress::write_file_atomic(target, std::string("data"));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_EQ(testutil::read_text(target), "data");
}

TEST(Faults, OutputsToSpecialFilesAndSymlinks) {
  testutil::TempDir d;
  const std::string gt = testutil::golden_path("coco_eval/public_a_gt.json");
  const std::string dets = testutil::golden_path("coco_eval/public_a_dets.json");
  auto r = run_cli("eval --gt " + gt + " --dets " + dets + " --out /dev/full");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'/dev/full': it is not a regular file"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  r = run_cli("eval --gt " + gt + " --dets " + dets + " --out ''");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--out: an empty value"), std::string::npos) << r.output;
  r = run_cli("eval --gt " + gt + " --dets " + dets + " --out " + d.path().string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is a directory"), std::string::npos) << r.output;
  fs::create_symlink(d.file("stats.json"), d.file("link.json"));
  r = run_cli("eval --gt " + gt + " --dets " + dets + " --out " + d.file("link.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(d.file("link.json")));
  EXPECT_EQ(nlohmann::json::parse(testutil::read_text(d.file("stats.json"))).size(), 12u);
  // The statistics printed before any file could fail.
  r = run_cli("eval --gt " + gt + " --dets " + dets + " --out /dev/full");
  EXPECT_NE(r.output.find("Average Precision"), std::string::npos) << r.output;
}

TEST(Faults, AFullStdoutIsAnError) {
  const auto r = testutil::run_shell("(" + std::string(COMPRESS_BINARY) + " config show -c " +
                                     testutil::source_path("configs/datasets/fashion_det.yml") + " > /dev/full)");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write to standard output"), std::string::npos) << r.output;
}

// --- checkpoints: a full disk, a kill, corruption ------------------------------

TEST(Faults, AFileSizeLimitKeepsThePreviousCheckpoint) {
  // RLIMIT_FSIZE (with SIGXFSZ ignored) makes a write fail mid-file, as a full
  // disk does, on any machine.
  TinyRun t;
  const std::string run = t.d.file("run");
  auto r = run_cli(t.train(run));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string before = testutil::read_text(run + "/latest.pt");
  ASSERT_GT(before.size(), 64u * 1024);
  r = testutil::run_shell("trap '' XFSZ; ulimit -f 32; " + std::string(COMPRESS_BINARY) + " " +
                          t.train(run, " -r " + run + "/latest.pt -o max_iters=4"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write '" + run + "/latest.pt'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the previous file is kept"), std::string::npos) << r.output;
  EXPECT_EQ(testutil::read_text(run + "/latest.pt"), before);
  EXPECT_TRUE(temp_files(run).empty());
}

TEST(Faults, AFullDiskKeepsThePreviousCheckpoint) {
  TinyRun t;
  const std::string disk = t.d.file("disk");
  fs::create_directories(disk);
  if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=8m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); AFileSizeLimitKeepsThePreviousCheckpoint covers the failing write";
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{disk};
  const std::string run = disk + "/run";
  auto r = run_cli(t.train(run));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string before = testutil::read_text(run + "/latest.pt");
  fs::remove(run + "/model_final.pt");
  // Fill the disk, then free 16 KiB: room for the log lines, not for a checkpoint.
  {
    std::ofstream fill(disk + "/fill", std::ios::binary);
    const std::string block(4096, '\0');
    while (fill.write(block.data(), block.size()) && fill.flush()) {
    }
  }
  fs::resize_file(disk + "/fill", fs::file_size(disk + "/fill") - 16384);
  r = run_cli(t.train(run, " -r " + run + "/latest.pt -o max_iters=4"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write '" + run + "/latest.pt': disk full"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  EXPECT_EQ(testutil::read_text(run + "/latest.pt"), before);
  EXPECT_TRUE(temp_files(run).empty());
}

TEST(Faults, AKilledRunResumesWithACleanMetricsLog) {
  TinyRun t(80);
  const std::string run = t.d.file("run");
  // Killed after its first checkpoint (iteration 2), mid-way through the next steps.
  auto r = testutil::run_shell(std::string(COMPRESS_BINARY) + " " + t.train(run, " -o snapshot_iter=2") + " > " +
                               t.d.file("log") + " 2>&1 & p=$!; for i in $(seq 600); do [ -f " + run +
                               "/latest.pt ] && break; sleep 0.1; done; sleep 0.3; kill -9 $p; wait $p");
  ASSERT_TRUE(fs::exists(run + "/latest.pt")) << testutil::read_text(t.d.file("log"));
  ASSERT_EQ(testutil::read_text(t.d.file("log")).find("training done"), std::string::npos) << "not killed in time";
  // A partial last line, as a kill in the middle of a write leaves, and a stale temp file.
  { std::ofstream(run + "/metrics.jsonl", std::ios::app) << "{\"iter\": 5, \"kind\": \"tr"; }
  testutil::write_text(run + "/latest.pt.tmp." + std::to_string(dead_pid()), std::string(5000, 'x'));
  r = run_cli(t.train(run, " -r " + run + "/latest.pt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("temp file(s) of 'latest.pt' left by a killed run"), std::string::npos) << r.output;
  EXPECT_TRUE(temp_files(run).empty());
  std::ifstream in(run + "/metrics.jsonl");
  std::vector<int64_t> iters;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);  // every line whole
    if (j["kind"] == "train") iters.push_back(j["iter"].get<int64_t>());
  }
  std::vector<int64_t> want(80);
  std::iota(want.begin(), want.end(), 1);
  EXPECT_EQ(iters, want);  // each iteration once, in order
  EXPECT_EQ(run_cli("plot " + run + " --out " + t.d.file("c.png")).code, 0);
}

TEST(MetricsLog, ResumeCutsRowsPastTheCheckpointAndAPartialLine) {
  testutil::TempDir d;
  const std::string p = d.file("metrics.jsonl");
  testutil::write_text(p, "{\"iter\":1}\n{\"iter\":2}\n{\"iter\":2,\"kind\":\"eval\"}\n{\"iter\":3}\n{\"it");
  {
    compress::MetricsLog log(p, /*append=*/true, /*resumed_at=*/2);
    log.write({{"iter", 3}});
  }
  const std::string text = testutil::read_text(p);
  const std::string kept = "{\"iter\":1}\n{\"iter\":2}\n{\"iter\":2,\"kind\":\"eval\"}\n";
  ASSERT_EQ(text.substr(0, kept.size()), kept);
  const auto last = nlohmann::json::parse(text.substr(kept.size()));  // one whole line: the new row
  EXPECT_EQ(last["iter"], 3);
  EXPECT_GT(last["time"].get<double>(), 1.7e9);  // a wall-clock timestamp
}

TEST(Faults, ACorruptedCheckpointIsRefused) {
  TinyRun t;
  const std::string run = t.d.file("run");
  auto r = run_cli(t.train(run));
  ASSERT_EQ(r.code, 0) << r.output;
  std::string bytes = testutil::read_text(run + "/model_final.pt");
  for (size_t k = 0; k < 64; ++k) bytes[bytes.size() / 2 + k] ^= 0x5A;
  testutil::write_text(t.d.file("bad.pt"), bytes);
  r = run_cli("eval -c /dev/null" + t.flags + " -w " + t.d.file("bad.pt"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("checkpoint '" + t.d.file("bad.pt") + "' is corrupt or truncated"), std::string::npos)
      << r.output;
  testutil::write_text(t.d.file("cut.pt"), testutil::read_text(run + "/model_final.pt").substr(0, bytes.size() / 2));
  r = run_cli("eval -c /dev/null" + t.flags + " -w " + t.d.file("cut.pt"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cut.pt' is corrupt or truncated"), std::string::npos) << r.output;
}

TEST(Faults, EvalWritesDetectionsOnlyWhereAsked) {
  TinyRun t;
  const std::string run = t.d.file("run");
  ASSERT_EQ(run_cli(t.train(run)).code, 0);
  fs::create_directories(t.d.file("w"));
  fs::copy_file(run + "/model_final.pt", t.d.file("w/m.pt"));
  auto r = run_cli("eval -c /dev/null" + t.flags + " -w " + t.d.file("w/m.pt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(t.d.file("w/eval_dets.json")));
  EXPECT_NE(r.output.find("Average Precision"), std::string::npos);
  r = run_cli("eval -c /dev/null" + t.flags + " -w " + t.d.file("w/m.pt") + " --dets-out " + t.d.file("d.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(nlohmann::json::parse(testutil::read_text(t.d.file("d.json"))).is_array());
}

// --- data ------------------------------------------------------------------

TEST(Faults, AWrongDeclaredImageSizeIsNamedAndNeverTrainsOnNothing) {
  TinyRun t;
  const std::string anno = t.d.file("train_anno.json");
  auto j = nlohmann::json::parse(testutil::read_text(t.d.file("annotations/instances_train.json")));
  for (auto& im : j["images"]) im["width"] = 1000000000;
  testutil::write_text(t.d.file("annotations/instances_train.json"), j.dump());
  auto r = run_cli(t.train(t.d.file("run")));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is declared 1000000000x64 but decodes as 64x64"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("every box of the first"), std::string::npos) << r.output;
  r = run_cli(t.train(t.d.file("run2"), " -o TrainReader.dataset.strict=true"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("instances_train.json: image id "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is declared 1000000000x64 but decodes as 64x64"), std::string::npos) << r.output;
}

TEST(Faults, ATruncatedJpegIsAnErrorWhenStrictAndAWarningOtherwise) {
  TinyRun t;
  const std::string img = t.d.file("train/000001.jpg");
  const std::string whole = testutil::read_text(img);
  std::vector<unsigned char> full(whole.begin(), whole.end());
  EXPECT_FALSE(compress::jpeg_truncated(full));
  testutil::write_text(img, whole.substr(0, whole.size() / 2));
  const std::string cut = testutil::read_text(img);
  EXPECT_TRUE(compress::jpeg_truncated(std::vector<unsigned char>(cut.begin(), cut.end())));
  auto r = run_cli(t.train(t.d.file("run"), " -o TrainReader.dataset.strict=true"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("image '" + img + "' (image id 1) is truncated"), std::string::npos) << r.output;
  r = run_cli(t.train(t.d.file("run2")));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("is truncated; its missing part decodes grey"), std::string::npos) << r.output;
}

TEST(Faults, ResultsAndConfigsNameTheFile) {
  testutil::TempDir d;
  const std::string gt = testutil::golden_path("coco_eval/public_a_gt.json");
  testutil::write_text(d.file("dets.json"),
                       "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"score\": 1e400}]");
  auto r = run_cli("eval --gt " + gt + " --dets " + d.file("dets.json"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(d.file("dets.json")), std::string::npos) << r.output;
  r = run_cli("config show -c " + d.path().string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'" + d.path().string() + "' is a directory"), std::string::npos) << r.output;
  // A self-referencing alias: in a file (exit 1, file and key) and in -o (a usage error).
  testutil::write_text(d.file("loop.yml"), "a: &a [*a]\n");
  r = run_cli("config show -c " + d.file("loop.yml"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(d.file("loop.yml") + ": key 'a."), std::string::npos) << r.output;
  r = run_cli("config show -c /dev/null -o 'max_iters=&a [*a]'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("-o max_iters"), std::string::npos) << r.output;
}

// --- usage errors: exit 2 with the usage, naming the flag ----------------------

TEST(Faults, UsageErrorsExitTwoNamingTheFlag) {
  testutil::TempDir d;
  const std::string cfg = " -c " + testutil::source_path("configs/fashion/ssdlite_mobilenet_v3_small.yml");
  struct Case {
    std::string args, names;
  };
  const std::vector<Case> cases = {
      {"bench train" + cfg + " --steps 0", "--steps"},
      {"bench onnx --onnx x.onnx --runs 0", "--runs"},
      {"config show -c /dev/null -o threads=100000", "threads"},
      {"config show -c /dev/null -o max_iters", "expected key.path=value"},
      {"config show -c /dev/null -o no_such_key=1", "no_such_key"},
      {"data fashion-det --out " + d.file("x") + " --train 2000000000", "--train"},
      {"prune" + cfg + " --pruned_params a --pruned_ratios 0.5 --prune_criterion bogus", "--prune_criterion"},
      {"sensitivity" + cfg + " --pruned_params a --ratios 1.5", "--ratios: 1.5 is outside"},
      {"prune" + cfg + " --pruned_params 'a,,b' --pruned_ratios 0.5", "--pruned_params: empty item"},
      {"quant" + cfg + " --not_quant_pattern ''", "--not_quant_pattern: an empty value"},
      {"eval --gt a.json --dets b.json --out ''", "--out: an empty value"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.names), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(d.file("x")));
}

TEST(Faults, ImpossibleRunsAreRefusedWithTheReason) {
  TinyRun t;
  auto r = run_cli(t.train(t.d.file("run"), " -o TrainReader.batch_size=1"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("'TrainReader.batch_size': SSDLite trains with at least 2 images"), std::string::npos)
      << r.output;
  // A pattern that every conv path contains leaves nothing to quantize.
  r = run_cli("quant -c /dev/null" + t.flags + " --not_quant_pattern conv --run-dir " + t.d.file("q"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("would quantize no conv"), std::string::npos) << r.output;
}

// --- a stalled rank -----------------------------------------------------------

TEST(Faults, AStoppedRankIsNamed) {
  TinyRun t(20);
  const std::string port = std::to_string(testutil::test_port(41));
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " ";
  const std::string cmd = std::string(COMPRESS_BINARY) + " " + t.train(t.d.file("run")) +
                          " -o distributed.timeout_s=5 -o TrainReader.batch_size=2";
  const auto r = testutil::run_shell("(" + env +
                                     "RANK=1 LOCAL_RANK=1 COMPRESS_FAULT_RANK=1 COMPRESS_FAULT_ITER=1 "
                                     "COMPRESS_FAULT_SIGNAL=STOP " +
                                     cmd + " > " + t.d.file("r1.log") + " 2>&1 & p=$!; " + env +
                                     "RANK=0 LOCAL_RANK=0 " + cmd + " 2>&1; rc=$?; kill -9 $p; wait $p; exit $rc)");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("rank 1 (pid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopped (SIGSTOP or a debugger)) is gone"), std::string::npos) << r.output;
}

// --- fuzz: random mutations of the bundled recipes and of a small COCO file ----

namespace {

// One random edit of a text: a line deleted, duplicated or re-indented, a value
// replaced by a hostile token, a cut, or a byte changed.
std::string mutate(const std::string& text, std::mt19937& rng) {
  static const std::vector<std::string> tokens = {"-1",
                                                  "0",
                                                  "1e400",
                                                  "nan",
                                                  ".inf",
                                                  "[",
                                                  "]",
                                                  "{",
                                                  "}",
                                                  "*a",
                                                  "&a [*a]",
                                                  "!Bogus {}",
                                                  "null",
                                                  "'",
                                                  "\"",
                                                  "~",
                                                  "[[1, 2], [3]]",
                                                  "999999999999999999999",
                                                  "-",
                                                  ": :",
                                                  "\t",
                                                  "\x01",
                                                  std::string(3000, 'x'),
                                                  "true",
                                                  "{type: Nope}",
                                                  "[1, 2, 3]",
                                                  "-0.5",
                                                  "2147483648",
                                                  "\"\\u0000\"",
                                                  "{\"a\": {\"b\": ["};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  if (lines.empty()) lines.push_back("");
  const std::string& tok = tokens[pick(tokens.size())];
  const size_t li = pick(lines.size());
  switch (pick(7)) {
    case 0:
      lines.erase(lines.begin() + static_cast<long>(li));
      break;
    case 1:
      lines.insert(lines.begin() + static_cast<long>(li), lines[li]);
      break;
    case 2: {  // the value after a ':' (or the whole line)
      const auto c = lines[li].find(':');
      lines[li] = c == std::string::npos ? tok : lines[li].substr(0, c + 1) + " " + tok;
      break;
    }
    case 3:
      return text.substr(0, pick(text.size() + 1));
    case 4: {
      std::string t = text;
      t.insert(pick(t.size() + 1), tok);
      return t;
    }
    case 5:
      lines[li] = (pick(2) ? "  " : "") + lines[li].substr(lines[li].rfind("  ", 0) == 0 ? 2 : 0);
      break;
    default: {
      std::string t = text;
      if (!t.empty()) t[pick(t.size())] = static_cast<char>(pick(256));
      return t;
    }
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Names, sizes and contents of every file under `dir`: what must not change.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[e.path().string()] = testutil::read_text(e.path().string());
  return m;
}

void expect_contract(const testutil::CliResult& r, const std::string& what, const std::string& named) {
  EXPECT_TRUE(r.code == 0 || r.code == 1 || r.code == 2) << what << ": exit " << r.code << "\n" << r.output;
  if (r.code != 0)
    EXPECT_NE(r.output.find(named), std::string::npos) << what << ": the message names no file\n" << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << what << "\n" << r.output;
  EXPECT_EQ(r.output.find("Segmentation"), std::string::npos) << what << "\n" << r.output;
}

}  // namespace

TEST(Fuzz, MutatedRecipesFailCleanly) {
  testutil::TempDir d;
  fs::copy(testutil::source_path("configs"), d.file("configs"), fs::copy_options::recursive);
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(d.file("configs")))
    if (e.path().extension() == ".yml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  const auto source_before = snapshot(testutil::source_path("configs"));
  std::mt19937 rng(20261203);
  int failures = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string& f = files[std::uniform_int_distribution<size_t>(0, files.size() - 1)(rng)];
    const std::string original = testutil::read_text(f);
    const std::string mutated = mutate(original, rng);
    testutil::write_text(f, mutated);
    const auto before = snapshot(d.path());
    const auto r = testutil::run_shell("cd " + d.path().string() + " && " + COMPRESS_BINARY + " config show -c " + f);
    expect_contract(r, "case " + std::to_string(i) + " (" + f + ")", ".yml");
    EXPECT_EQ(snapshot(d.path()), before) << "case " << i << " wrote into the folder";
    failures += r.code != 0;
    testutil::write_text(f, original);
  }
  EXPECT_GT(failures, 10);  // the mutations do reach the validator
  EXPECT_EQ(snapshot(testutil::source_path("configs")), source_before);
}

TEST(Fuzz, MutatedCocoFilesFailCleanly) {
  testutil::TempDir d;
  const std::string gt =
      R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                     {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 3, 20, 10], "area": 200, "iscrowd": 0},
                        {"id": 2, "image_id": 2, "category_id": 7, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0},
                        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 8, 8], "area": 64, "iscrowd": 1}],
          "categories": [{"id": 3, "name": "shirt"}, {"id": 7, "name": "bag"}]})";
  const std::string dets =
      R"([{"image_id": 1, "category_id": 3, "bbox": [2, 3, 19, 11], "score": 0.9},
          {"image_id": 2, "category_id": 7, "bbox": [11, 9, 30, 31], "score": 0.8},
          {"image_id": 2, "category_id": 3, "bbox": [40, 40, 5, 5], "score": 0.3}])";
  testutil::write_text(d.file("gt.json"), gt);
  testutil::write_text(d.file("dets.json"), dets);
  ASSERT_EQ(run_cli("eval --gt " + d.file("gt.json") + " --dets " + d.file("dets.json")).code, 0);
  std::mt19937 rng(31337);
  int failures = 0;
  for (int i = 0; i < 60; ++i) {
    const bool on_gt = i % 2 == 0;
    const std::string name = on_gt ? "gt_m.json" : "dets_m.json";
    testutil::write_text(d.file(name), mutate(on_gt ? gt : dets, rng));
    const auto before = snapshot(d.path());
    const auto r = testutil::run_shell("cd " + d.path().string() + " && " + COMPRESS_BINARY + " eval --gt " +
                                       d.file(on_gt ? "gt_m.json" : "gt.json") + " --dets " +
                                       d.file(on_gt ? "dets.json" : "dets_m.json"));
    expect_contract(r, "case " + std::to_string(i), name);
    EXPECT_EQ(snapshot(d.path()), before) << "case " << i << " wrote into the folder";
    failures += r.code != 0;
  }
  EXPECT_GT(failures, 10);
}
