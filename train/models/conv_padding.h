// A conv's padding as numbers. The options hold a variant of numbers or a
// "valid"/"same" tag: c10::variant before PyTorch 2, std::variant after, so
// both get_if templates are in scope and the argument picks one.
#pragma once
#include <torch/torch.h>

#include <variant>

namespace compress {

// nullptr where the padding is a tag (kValid, kSame).
template <class ConvOptions>
const torch::ExpandingArray<2>* conv_padding_numbers(const ConvOptions& o) {
  using namespace c10;
  using namespace std;
  return get_if<torch::ExpandingArray<2>>(&o.padding());
}

}  // namespace compress
