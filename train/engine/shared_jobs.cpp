#include "train/engine/shared_jobs.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "train/engine/distributed.h"
#include "train/util/error.h"

namespace compress {

void run_shared_jobs(DistContext* dist, int64_t n, double timeout_s, const std::string& what,
                     const std::function<double(int64_t)>& job, const std::function<void(int64_t, double)>& done) {
  if (!dist) {
    for (int64_t i = 0; i < n; ++i) done(i, job(i));
    return;
  }
  const int64_t W = dist->world_size(), rank = dist->rank();
  for (int64_t round = 0; round * W < n; ++round) {
    const int64_t mine = round * W + rank;
    const auto t0 = std::chrono::steady_clock::now();
    const double value = job(mine < n ? mine : mine % n);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // (job, value, seconds) as float64 rows: exact for the index and the value.
    auto rows = mine < n ? torch::tensor({static_cast<double>(mine), value, secs}, torch::kFloat64).view({1, 3})
                         : torch::tensor({-1.0, 0.0, secs}, torch::kFloat64).view({1, 3});
    double slowest = 0;
    for (const auto& got : dist->all_gather_rows(rows)) {
      const auto a = got.accessor<double, 2>();
      for (int64_t k = 0; k < got.size(0); ++k) {
        slowest = std::max(slowest, a[k][2]);
        if (a[k][0] >= 0) done(static_cast<int64_t>(a[k][0]), a[k][1]);
      }
    }
    if (round == 0 && 2 * slowest > timeout_s && (round + 1) * W < n)
      fail(what, " under a launcher: one evaluation takes about ", std::lround(slowest), " s and the ", W,
           " ranks wait for each other's, but distributed.timeout_s is ", timeout_s, " s: give it at least ",
           std::lround(4 * slowest), " (-o distributed.timeout_s=", std::lround(4 * slowest),
           ") and rerun, which resumes");
  }
}

}  // namespace compress
