// The channel-dependency graph of a model, found from the model itself: one
// forward pass with gradients on, then a walk of the autograd graph it built
// (as Torch-Pruning does in Python). No per-model tables: convs, BNs, residual
// adds, SE scaling, upsampling and concat are recognised by the autograd node
// that recorded them; anything else that touches a channel space blocks it.
//
// A group is the set of channels that must be removed together. Its "root" is
// the output of one conv; every member maps an interval of root channels onto
// an interval of its own channel axis (concat puts members at an offset).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace compress::prune {

enum class MemberKind {
  ConvOut,    // a conv's output channels (weight dim 0, bias)
  ConvIn,     // a conv's input channels (weight dim 1)
  Depthwise,  // a depthwise conv: in, out and groups together
  BatchNorm,  // weight, bias, running mean and variance
};

struct Member {
  MemberKind kind;
  std::string module;      // module path, e.g. "yolo_block.0.0.0.conv"
  int64_t root_begin = 0;  // root channels [root_begin, root_begin + length) ...
  int64_t begin = 0;       // ... are this member's channels [begin, begin + length)
  int64_t length = 0;
};

struct ChannelGroup {
  std::string root;      // the conv whose output channels are the root space
  int64_t channels = 0;  // size of the root space
  std::vector<Member> members;
  std::string blocked;  // non-empty: why this group cannot be pruned
};

// Per conv: shapes seen in the traced forward pass (for FLOPs and reports).
struct ConvInfo {
  std::string module;
  std::vector<int64_t> weight;  // (O, I/g, kh, kw)
  std::vector<int64_t> output;  // (N, O, H, W)
  int64_t groups = 1;
  bool bias = false;
};

// Per fully connected layer (torch::nn::Linear): its weight's shape.
struct LinearInfo {
  std::string module;
  int64_t in_features = 0, out_features = 0;
  bool bias = false;
};

class DependencyGraph {
 public:
  ~DependencyGraph();
  DependencyGraph(DependencyGraph&&) noexcept;
  DependencyGraph& operator=(DependencyGraph&&) noexcept;

  struct Impl;  // built by trace_graph (compress/prune/trace.h)
  explicit DependencyGraph(std::unique_ptr<Impl> impl);

  // The group rooted at the output of the conv module `conv_path`.
  ChannelGroup group_of(const std::string& conv_path) const;

  // Every conv in forward order, with its traced shapes.
  const std::vector<ConvInfo>& convs() const;
  // Every fully connected layer in forward order (for FLOPs; never prunable).
  const std::vector<LinearInfo>& linears() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace compress::prune
