// Independent jobs shared across the ranks of a launcher: the per-layer
// evaluations of `compress sensitivity` and `compress quant --analyze`, each a
// whole evaluation of one variant of the model. Data parallelism does not fit
// them (every job needs the whole val set), so the ranks split the jobs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace compress {

class DistContext;

// Runs job(i) for every i in [0, n) and calls done(i, value) on every rank for
// every job. With `dist` the ranks take one job each per round (rank r runs
// round * W + r) and meet in an all-gather after each round, where done() sees
// the round's results in job order; without it this is a plain loop. A rank
// left without a job in the last round reruns one and discards it, so it waits
// in the gather no longer than the busy ranks. After the first round a job
// that took more than half of `timeout_s` fails on every rank with the value
// to set: the gather would fail with a false "rank gone" when two jobs' times
// differ by the timeout. done() has seen the first round's results by then.
// `what` names the command in that message.
void run_shared_jobs(DistContext* dist, int64_t n, double timeout_s, const std::string& what,
                     const std::function<double(int64_t)>& job, const std::function<void(int64_t, double)>& done);

}  // namespace compress
