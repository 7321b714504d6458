// tools/experiments/paired_ap.py, the script behind issue 29's distillation
// table: per seed the last evaluation of the fine-tuned and of the distilled
// run, their mean paired difference and its standard error, against values
// worked out by hand below. Both folder layouts it reads (run folders with a
// metrics.jsonl somewhere under them, and the kept `*.metrics.jsonl` copies).
#include <gtest/gtest.h>

#include <string>

#include "tests/test_util.h"

namespace {

// One run's metrics.jsonl: a training record, an early evaluation that must
// be ignored, then the final one at `iter`.
std::string metrics(double final_ap, int iter = 500) {
  return "{\"iter\":250,\"kind\":\"train\",\"loss\":3.5}\n{\"AP\":0.9,\"iter\":250}\n{\"AP\":" +
         std::to_string(final_ap) + ",\"iter\":" + std::to_string(iter) + "}\n";
}

testutil::CliResult paired_ap(const std::string& dir) {
  return testutil::run_shell("python3 " + testutil::source_path("tools/experiments/paired_ap.py") + " " + dir);
}

}  // namespace

TEST(PairedAp, RecomputesTheMeanDifferenceAndItsStandardErrorFromEitherLayout) {
  testutil::TempDir d;
  // Differences in AP points: +0.30, +0.10, +0.40. Mean 0.2667; deviations
  // 0.0333, -0.1667, 0.1333; sample variance 0.046667 / 2 = 0.023333; SE =
  // sqrt(0.023333 / 3) = 0.0882, so 2 SE = 0.176 < 0.267: ahead.
  testutil::write_text(d.file("ft_seed0/run/metrics.jsonl"), metrics(0.050));
  testutil::write_text(d.file("distill_seed0/run/metrics.jsonl"), metrics(0.053));
  testutil::write_text(d.file("ft_seed1.metrics.jsonl"), metrics(0.060));
  testutil::write_text(d.file("distill_seed1.metrics.jsonl"), metrics(0.061));
  testutil::write_text(d.file("ft_seed2/metrics.jsonl"), metrics(0.070));
  testutil::write_text(d.file("distill_seed2.metrics.jsonl"), metrics(0.074));
  auto r = paired_ap(d.path().string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| 0 | 5.00 | 5.30 | +0.30 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 1 | 6.00 | 6.10 | +0.10 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 2 | 7.00 | 7.40 | +0.40 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| mean | 6.00 | 6.27 | +0.27 (paired SE 0.09) |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 seeds: ahead by more than 2 SE: yes; ahead in every seed: yes"), std::string::npos)
      << r.output;
}

TEST(PairedAp, ASeedBehindOrASpreadWiderThanTheMeanFailsTheTest) {
  testutil::TempDir d;
  // Differences +0.50, -0.10: mean 0.20, SE = |0.5 - -0.1| / 2 = 0.30.
  testutil::write_text(d.file("ft_seed3.metrics.jsonl"), metrics(0.050));
  testutil::write_text(d.file("distill_seed3.metrics.jsonl"), metrics(0.055));
  testutil::write_text(d.file("ft_seed7.metrics.jsonl"), metrics(0.060));
  testutil::write_text(d.file("distill_seed7.metrics.jsonl"), metrics(0.059));
  auto r = paired_ap(d.path().string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| mean | 5.50 | 5.70 | +0.20 (paired SE 0.30) |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 seeds: ahead by more than 2 SE: no; ahead in every seed: no"), std::string::npos)
      << r.output;
}

TEST(PairedAp, RunsOnDifferentSchedulesOrWithoutAnEvaluationAreRefusedByName) {
  testutil::TempDir d;
  testutil::write_text(d.file("ft_seed0.metrics.jsonl"), metrics(0.050, 1000));
  testutil::write_text(d.file("distill_seed0.metrics.jsonl"), metrics(0.053, 500));
  testutil::write_text(d.file("ft_seed1.metrics.jsonl"), metrics(0.050));
  testutil::write_text(d.file("distill_seed1.metrics.jsonl"), metrics(0.053));
  auto r = paired_ap(d.path().string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("seed 0: fine-tuned evaluated at step 1000, distilled at 500"), std::string::npos)
      << r.output;

  testutil::write_text(d.file("ft_seed0.metrics.jsonl"), "{\"iter\":50,\"loss\":3.0}\n");
  r = paired_ap(d.path().string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("ft_seed0.metrics.jsonl: no evaluation record"), std::string::npos) << r.output;
}
