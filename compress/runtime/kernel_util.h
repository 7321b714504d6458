// What the runtime's generic kernels share: the kernel signature, errors that
// name the node, input access, and row-major strides. Internal to
// compress/runtime (ops.cpp, ops_detection.cpp).
#pragma once
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "compress/runtime/model.h"
#include "compress/runtime/value.h"

namespace compress::runtime {

// A node's kernel: its inputs (nullptr for an omitted optional one) -> its outputs.
using Kernel = std::function<std::vector<ValuePtr>(const Node&, const std::vector<ValuePtr>&)>;
using KernelTable = std::map<std::string, Kernel>;

// TopK, NonZero, NonMaxSuppression, RoiAlign, ScatterND, Gemm, Expand: the
// ops of Cascade R-CNN's proposals and box heads (ops_detection.cpp).
void add_detection_kernels(KernelTable& table);

[[noreturn]] inline void bad(const Node& n, const std::string& why) {
  throw std::runtime_error("runtime: node '" + n.name + "' (" + n.op + "): " + why);
}

inline const ValuePtr& need(const Node& n, const std::vector<ValuePtr>& in, size_t k) {
  if (k >= in.size() || !in[k]) bad(n, "input " + std::to_string(k) + " is missing");
  return in[k];
}

inline bool given(const std::vector<ValuePtr>& in, size_t k) { return k < in.size() && in[k] != nullptr; }

// Input k as float32 (a lazy DequantizeLinear output dequantized).
inline ValuePtr floats(const Node& n, const std::vector<ValuePtr>& in, size_t k) {
  auto v = materialize(need(n, in, k));
  if (v->type != DType::f32) bad(n, "input " + std::to_string(k) + " is " + dtype_name(v->type) + ", not float32");
  return v;
}

// An int64 / int32 tensor's values.
inline std::vector<int64_t> int_list(const Node& n, const ValuePtr& v) {
  std::vector<int64_t> out(v->numel());
  if (v->type == DType::s64)
    std::memcpy(out.data(), v->buf->data(), out.size() * 8);
  else if (v->type == DType::s32)
    for (size_t k = 0; k < out.size(); ++k) out[k] = v->data<int32_t>()[k];
  else
    bad(n, "an integer list input is " + std::string(dtype_name(v->type)));
  return out;
}

// Input k as one float (dflt when omitted).
inline float scalar(const Node& n, const std::vector<ValuePtr>& in, size_t k, float dflt) {
  if (!given(in, k)) return dflt;
  auto v = floats(n, in, k);
  if (v->numel() != 1) bad(n, "input " + std::to_string(k) + " must be a scalar");
  return v->data<float>()[0];
}

inline std::vector<int64_t> strides_of(const std::vector<int64_t>& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (int64_t k = static_cast<int64_t>(d.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * d[k + 1];
  return s;
}

// y[k] = x[sum_d i_d * src[d]] for every element k = (i_0, ..., i_r) of y
// (row-major): a transpose (src = x's strides permuted) or a broadcast (src
// = x's strides, 0 on the broadcast dims), for any element size.
inline void copy_strided(const Value& x, Value& y, const std::vector<int64_t>& src) {
  const auto sy = strides_of(y.dims);
  const size_t es = dtype_size(x.type), rank = y.dims.size();
  const int64_t N = y.numel();
  for (int64_t k = 0; k < N; ++k) {
    int64_t rem = k, o = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t i = rem / sy[d];
      rem -= i * sy[d];
      o += i * src[d];
    }
    std::memcpy(y.buf->data() + k * es, x.buf->data() + o * es, es);
  }
}

}  // namespace compress::runtime
