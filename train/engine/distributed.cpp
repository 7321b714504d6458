#include "train/engine/distributed.h"

#include "train/config/config.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef COMPRESS_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "train/util/error.h"

namespace compress {
namespace {

int env_int(const char* name, int def, int lo) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > 1 << 30)
    fail("environment variable ", name, "='", v, "' is not an integer >= ", lo);
  return static_cast<int>(x);
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1);
  e.rank = env_int("RANK", 0, 0);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1);
  if (e.master_port > 65535) fail("environment variable MASTER_PORT=", e.master_port, " is not a TCP port");
  if (e.rank >= e.world_size) fail("environment variable RANK=", e.rank, " is not below WORLD_SIZE=", e.world_size);
  return e;
}

struct DistContext::Impl {
  DistEnv env;
  c10::intrusive_ptr<c10d::Store> store;
  // PyTorch 2 split process groups into a front and per-device "backends";
  // ProcessGroupGloo and ProcessGroupNCCL are backends there, with the same
  // collectives.
#if TORCH_VERSION_MAJOR >= 2
  c10::intrusive_ptr<c10d::Backend> pg;
#else
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
#endif
  double timeout_s = 60;
  double comm_s = 0;
  c10::Device device = c10::kCPU;  // where the collectives' tensors live: LOCAL_RANK's GPU under NCCL

  // Every rank's "host pid", read once the group has formed (every rank has
  // published its own by then), so diagnose() needs no store: the store lives
  // in rank 0, which may be the rank that is gone or stopped.
  std::vector<std::string> peers;

  void read_peers() {
    peers.assign(static_cast<size_t>(env.world_size), "");
    for (int r = 0; r < env.world_size; ++r) {
      try {
        const auto v = store->get("compress/pid/" + std::to_string(r));
        peers[static_cast<size_t>(r)].assign(v.begin(), v.end());
      } catch (const std::exception&) {
      }
    }
  }

  // Which peer is gone or stalled: a local peer whose pid no longer exists, or
  // is stopped (SIGSTOP, a debugger) or a zombie, is named with its state.
  std::string diagnose() {
    std::string gone;
    const std::string me = hostname();
    for (int r = 0; r < env.world_size; ++r) {
      if (r == env.rank || static_cast<size_t>(r) >= peers.size() || peers[static_cast<size_t>(r)].empty()) continue;
      const std::string& s = peers[static_cast<size_t>(r)];
      const auto sp = s.rfind(' ');
      if (sp == std::string::npos || s.substr(0, sp) != me) continue;
      const std::string pid = s.substr(sp + 1);
      std::string state;
      if (kill(std::stoi(pid), 0) != 0) {
        state = "exited";
      } else {
        // /proc/PID/stat: "pid (comm) S ...": the state letter follows the last ')'.
        std::ifstream in("/proc/" + pid + "/stat");
        const std::string stat((std::istreambuf_iterator<char>(in)), {});
        const auto paren = stat.rfind(')');
        const char c = paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
        if (c == 'T' || c == 't') state = "stopped (SIGSTOP or a debugger)";
        if (c == 'Z' || c == 'X') state = "exited";
      }
      if (!state.empty()) gone += (gone.empty() ? "" : ", ") + std::to_string(r) + " (pid " + pid + " " + state + ")";
    }
    if (!gone.empty()) return "rank " + gone + " is gone";
    return peers.empty() ? "a peer stopped responding (rank 0 hosts the store)" : "a peer stopped responding";
  }

  template <typename F>
  void run(const char* what, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      f()->wait();
    } catch (const std::exception& e) {
      fail("rank ", env.rank, ": ", what, " failed: ", diagnose(), " (timeout ", timeout_s, " s; ", e.what(), ")");
    }
    comm_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

DistContext::DistContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DistContext::~DistContext() = default;
int DistContext::rank() const { return impl_->env.rank; }
int DistContext::world_size() const { return impl_->env.world_size; }
double DistContext::comm_seconds() const { return impl_->comm_s; }

void DistContext::allreduce_mean(const std::vector<at::Tensor>& tensors, double bucket_mb) {
  torch::NoGradGuard no_grad;
  const int64_t cap = static_cast<int64_t>(bucket_mb * 1024 * 1024 / 4);
  std::vector<at::Tensor> bucket;
  int64_t filled = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<at::Tensor> flat{torch::cat([&] {
      std::vector<at::Tensor> v;
      for (const auto& t : bucket) v.push_back(t.reshape({-1}));
      return v;
    }())};
    impl_->run("all-reduce", [&] { return impl_->pg->allreduce(flat); });
    flat[0].div_(world_size());
    int64_t off = 0;
    for (const auto& t : bucket) {
      t.copy_(flat[0].narrow(0, off, t.numel()).view_as(t));
      off += t.numel();
    }
    bucket.clear();
    filled = 0;
  };
  for (const auto& t : tensors) {
    if (!t.defined()) continue;
    TORCH_CHECK(t.scalar_type() == torch::kFloat32, "allreduce_mean: float32 tensors only");
    bucket.push_back(t);
    filled += t.numel();
    if (filled >= cap) flush();
  }
  flush();
}

void DistContext::allreduce_max(const at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  impl_->run("all-reduce (max)", [&] { return impl_->pg->allreduce(v, o); });
}

void DistContext::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    std::vector<at::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->run("broadcast", [&] { return impl_->pg->broadcast(v, o); });
  }
}

std::vector<at::Tensor> DistContext::all_gather_rows(const at::Tensor& rows) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(rows.dim() == 2 && rows.scalar_type() == torch::kFloat64, "all_gather_rows: (n, K) float64 rows");
  const int64_t W = world_size(), K = rows.size(1);
  // NCCL moves CUDA tensors only; Gloo takes CPU ones.
  const auto dev = impl_->device;
  auto gather = [&](const at::Tensor& mine, const char* what) {
    std::vector<at::Tensor> in{mine.to(dev).contiguous()};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int64_t r = 0; r < W; ++r) out[0].push_back(torch::empty_like(in[0]));
    impl_->run(what, [&] { return impl_->pg->allgather(out, in); });
    return out[0];
  };
  const auto counts =
      gather(torch::full({1}, static_cast<double>(rows.size(0)), torch::kFloat64), "all-gather (counts)");
  int64_t most = 0;
  for (const auto& c : counts) most = std::max(most, static_cast<int64_t>(c.item<double>()));
  auto padded = torch::zeros({std::max<int64_t>(most, 1), K}, torch::kFloat64);
  if (rows.size(0) > 0) padded.narrow(0, 0, rows.size(0)).copy_(rows);
  auto all = gather(padded, "all-gather (rows)");
  std::vector<at::Tensor> result;
  for (int64_t r = 0; r < W; ++r)
    result.push_back(all[r].cpu().narrow(0, 0, static_cast<int64_t>(counts[r].item<double>())));
  return result;
}

at::Tensor DistContext::rows_from_rank0(const at::Tensor& rows) {
  return all_gather_rows(is_main() ? rows : rows.narrow(0, 0, 0))[0];
}

void DistContext::barrier() {
  impl_->run("barrier", [&] { return impl_->pg->barrier(); });
}

namespace {
std::mutex g_mu;
std::shared_ptr<DistContext> g_ctx;
bool g_done = false;
}  // namespace

std::shared_ptr<DistContext> dist_init(const Config& cfg) {
  return dist_init(cfg.get<std::string>("distributed.backend"), cfg.get<double>("distributed.timeout_s"));
}

void dist_shutdown() {
  std::shared_ptr<DistContext> last;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    last.swap(g_ctx);
  }
  // `last` goes here, outside the lock.
}

std::shared_ptr<DistContext> dist_context() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_ctx;
}

std::shared_ptr<DistContext> dist_init(const std::string& backend, double timeout_s) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_done) return g_ctx;
  g_done = true;
  const DistEnv env = dist_env_from_environment();
  // One process joins a group only to exercise NCCL (WORLD_SIZE=1 given explicitly).
  if (!env.enabled() && !(backend == "nccl" && std::getenv("WORLD_SIZE"))) return nullptr;
#ifndef COMPRESS_CUDA
  if (backend != "gloo")
    fail("distributed.backend '", backend, "' is not available in this CPU build of LibTorch (use gloo)");
#else
  if (backend != "gloo" && backend != "nccl") fail("distributed.backend '", backend, "': use gloo or nccl");
#endif
  auto impl = std::make_unique<DistContext::Impl>();
  impl->env = env;
  impl->timeout_s = timeout_s;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  // Under torchrun the elastic agent already hosts the store on MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank is then a client.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  so.isServer = env.rank == 0 && !agent_store;
  so.numWorkers = env.world_size;
  so.timeout = timeout;
  try {
    // Our keys under a prefix, apart from the agent's.
    impl->store =
        c10::make_intrusive<c10d::PrefixStore>("compress", c10::make_intrusive<c10d::TCPStore>(env.master_addr, so));
    const std::string me = hostname() + " " + std::to_string(getpid());
    impl->store->set("compress/pid/" + std::to_string(env.rank), std::vector<uint8_t>(me.begin(), me.end()));
#ifdef COMPRESS_CUDA
    if (backend == "nccl") {
      // One GPU per process: collectives run on the tensors' device, LOCAL_RANK.
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, opts);
      impl->device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    }
#endif
    if (!impl->pg) {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
          env.master_addr == "127.0.0.1" || env.master_addr == "localhost" ? "127.0.0.1" : hostname()));
      impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
    }
  } catch (const std::exception& e) {
    fail("rank ", env.rank, ": cannot join the process group at ", env.master_addr, ":", env.master_port, " (",
         env.world_size, " processes, timeout ", timeout_s, " s): ", e.what());
  }
  impl->read_peers();
  g_ctx = std::make_shared<DistContext>(std::move(impl));
  spdlog::info("rank {}/{} (local rank {}) joined {}:{} ({})", env.rank, env.world_size, env.local_rank,
               env.master_addr, env.master_port, backend);
  return g_ctx;
}

}  // namespace compress
