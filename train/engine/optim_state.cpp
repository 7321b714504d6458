#include "train/engine/optim_state.h"

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <type_traits>

#include "train/util/error.h"

namespace compress {
namespace {

template <class Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;  // what c10::guts::to_string gives for a pointer
    os << static_cast<const void*>(p.unsafeGetTensorImpl());
    return os.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

torch::optim::OptimizerParamState* optimizer_param_state(torch::optim::Optimizer& opt, const torch::Tensor& p) {
  auto& state = opt.state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  const auto it = state.find(state_key<Key>(p));
  return it == state.end() ? nullptr : it->second.get();
}

void map_optimizer_state(torch::optim::Optimizer& opt,
                         const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& f) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      auto* st = optimizer_param_state(opt, p);
      if (!st) continue;
      auto map = [&](const torch::Tensor& s) { return s.defined() ? f(p, s) : s; };
      // Adam and AdamW states are distinct types with the same three moments.
      auto moments = [&](auto* a) {
        a->exp_avg(map(a->exp_avg()));
        a->exp_avg_sq(map(a->exp_avg_sq()));
        a->max_exp_avg_sq(map(a->max_exp_avg_sq()));
      };
      if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(st)) {
        s->momentum_buffer(map(s->momentum_buffer()));
      } else if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(st)) {
        moments(a);
      } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(st)) {
        moments(w);
      } else if (auto* r = dynamic_cast<torch::optim::RMSpropParamState*>(st)) {
        r->square_avg(map(r->square_avg()));
        r->momentum_buffer(map(r->momentum_buffer()));
        r->grad_avg(map(r->grad_avg()));
      } else if (auto* g = dynamic_cast<torch::optim::AdagradParamState*>(st)) {
        g->sum(map(g->sum()));
      } else {
        fail("this optimizer type's state is unknown to compress (SGD, Adam, AdamW, RMSprop, Adagrad are)");
      }
    }
}

}  // namespace compress
