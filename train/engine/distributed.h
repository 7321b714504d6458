// Data-parallel training on PyTorch's own c10d: a TCPStore for rendezvous and
// a Gloo process group (NCCL in CUDA builds), configured by torchrun's
// environment variables (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT). c10d stays inside distributed.cpp.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace compress {

class Config;

struct DistEnv {
  int rank = 0, local_rank = 0, world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool enabled() const { return world_size > 1; }
};

// Reads torchrun's variables; absent WORLD_SIZE means one process. Malformed
// or inconsistent values are errors naming the variable.
DistEnv dist_env_from_environment();

class DistContext {
 public:
  struct Impl;
  explicit DistContext(std::unique_ptr<Impl> impl);
  ~DistContext();

  int rank() const;
  int world_size() const;
  bool is_main() const { return rank() == 0; }

  // In place: every tensor becomes the mean over ranks. Tensors are packed into
  // buckets of about `bucket_mb` MB (one all-reduce each), as DDP's reducer does.
  void allreduce_mean(const std::vector<at::Tensor>& tensors, double bucket_mb = 25.0);
  void allreduce_max(const at::Tensor& t);
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  void barrier();
  // Every rank's (n_r, K) float64 CPU tensor, in rank order; the row counts n_r
  // may differ between ranks (the rows are padded to the largest for the
  // collective and trimmed after).
  std::vector<at::Tensor> all_gather_rows(const at::Tensor& rows);
  // Rank 0's (n, K) float64 rows on every rank (what the others pass is
  // ignored; they may pass no rows): a plan rank 0 alone could make.
  at::Tensor rows_from_rank0(const at::Tensor& rows);
  // Seconds spent in collectives so far (for the benchmark's share of a step).
  double comm_seconds() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// The process's context: created on first use from the environment (nullptr
// when WORLD_SIZE is absent or 1). `backend` is "gloo" or "nccl"; collectives
// fail after `timeout_s` seconds, with an error naming the rank that is gone.
std::shared_ptr<DistContext> dist_init(const std::string& backend, double timeout_s);
std::shared_ptr<DistContext> dist_context();  // nullptr unless dist_init made one
// The same with the config's distributed.backend and distributed.timeout_s.
std::shared_ptr<DistContext> dist_init(const Config& cfg);
// Releases the process's context (its process group goes when the last user
// lets go). main() calls it before returning: a NCCL group left to static
// destruction aborts the process, CUDA being unloaded by then.
void dist_shutdown();

}  // namespace compress
