#include "train/engine/optim_state.h"

#include <torch/torch.h>

#include "train/util/error.h"

namespace compress {

void map_optimizer_state(torch::optim::Optimizer& opt,
                         const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& f) {
  auto& state = opt.state();
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      const auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == state.end()) continue;
      auto map = [&](const torch::Tensor& s) { return s.defined() ? f(p, s) : s; };
      auto* st = it->second.get();
      if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(st)) {
        s->momentum_buffer(map(s->momentum_buffer()));
      } else if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(st)) {
        a->exp_avg(map(a->exp_avg()));
        a->exp_avg_sq(map(a->exp_avg_sq()));
        a->max_exp_avg_sq(map(a->max_exp_avg_sq()));
      } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(st)) {
        w->exp_avg(map(w->exp_avg()));
        w->exp_avg_sq(map(w->exp_avg_sq()));
        w->max_exp_avg_sq(map(w->max_exp_avg_sq()));
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
