// A tensor while the runtime executes a graph. Images (4-D) may be stored
// channels-last (NHWC), the layout oneDNN's int8 and f32 convolutions run
// fastest in; `dims` are always the ONNX (NCHW) dims. A quantized activation
// keeps its codes: uint8 with zero point 0, or, for ONNX's uint8 with zero
// point 128 (the symmetric int8 grid), int8 codes (code - 128), exactly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compress/runtime/model.h"

namespace compress::runtime {

// Bytes without the zero fill a std::vector would do (every kernel writes its
// whole output). Plain malloc: glibc keeps freed blocks for reuse, where
// aligned_alloc of the same sizes made every run fault its pages in again (3x
// slower convs, measured).
struct Buffer {
  // huge_pages: from the pool's chunks on 2 MiB pages (value.cpp) while they
  // last; activations want them, constants do not.
  explicit Buffer(size_t n, bool huge_pages = true);
  // n bytes at p that the caller owns and keeps alive while the buffer lives
  // (a run's input image, read where it lies rather than copied: no kernel
  // writes into its inputs); never freed or pooled.
  static std::shared_ptr<Buffer> borrow(const void* p, size_t n);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }  // the block's size: at least what was asked, its size class
  bool huge_pages() const;            // whether the block is carved from the huge-page chunks

 private:
  Buffer() = default;
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
  bool borrowed_ = false;
};

// Frees the pool's idle blocks (a benchmark measuring one model's memory
// starts from an empty pool).
void release_idle_buffers();

// The exporter's int8 h-swish of a DequantizeLinear's value y, computed where
// its floats are read instead of written out (activation_int8.h):
//   out = y * (hsig_scale * hsig[byte]),
// with hsig[byte] = Q(y + 3; 6/255), the hard-sigmoid's uint8 code, one per
// stored byte. The same float operations as the six nodes, in their order.
struct HardSwishOnCodes {
  alignas(64) uint8_t hsig[256];
  float hsig_scale = 1;
  float apply(uint8_t byte, float y) const { return y * (hsig_scale * static_cast<float>(hsig[byte])); }
};

struct Value {
  DType type = DType::f32;
  std::vector<int64_t> dims;
  bool nhwc = false;  // only for 4-D
  std::shared_ptr<Buffer> buf;
  // Quantized codes (u8 / s8): value = scale * (code - zp), with zp in ONNX's
  // terms (128 for s8 storage of a uint8 zero point 128).
  bool quantized = false;
  float scale = 1;
  int32_t zp = 0;
  // A DequantizeLinear output is made lazily: int8 convs read `deq_of`
  // directly; float consumers materialize it once (materialize()), as
  // scale * (code - zp) with this value's scale and zp (the DQ node's).
  std::shared_ptr<Value> deq_of;
  // With deq_of: the value is this h-swish of the dequantized codes (the SE
  // blocks' pool and gate, and a residual sum, read it without its floats).
  std::shared_ptr<const HardSwishOnCodes> hswish;

  int64_t numel() const;
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(type); }
  template <class T>
  T* data() {
    return reinterpret_cast<T*>(buf->data());
  }
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(buf->data());
  }
};
using ValuePtr = std::shared_ptr<Value>;

ValuePtr make_value(DType t, std::vector<int64_t> dims, bool nhwc = false);
ValuePtr from_constant(const Constant& c);
std::string dims_str(const std::vector<int64_t>& d);

// A float tensor's elements as a kernel reads them: the codes behind a lazy
// DequantizeLinear with its scale and zero point (for s8 storage of a uint8
// zero point 128, the zero point of the stored codes), or the floats (type
// f32; scale and zp unused). Fused kernels read codes this way without
// making the floats first.
struct Operand {
  const void* p = nullptr;
  DType type = DType::f32;
  float scale = 1;
  int32_t zp = 0;
  const HardSwishOnCodes* hswish = nullptr;  // codes only: the h-swish of their value
};
// lazy_hswish: the caller's kernel applies an h-swish itself (the AVX-512
// VBMI kernels of simd_int8.h); otherwise such a value is made floats first.
Operand operand_of(const ValuePtr& v, bool lazy_hswish = false);
// The operand from element k on.
Operand offset(Operand o, int64_t k);

// The float data of v (dequantizing a lazy DequantizeLinear output once).
ValuePtr materialize(const ValuePtr& v);
// v in plain row-major (NCHW) order: v itself, or a reordered copy.
ValuePtr to_nchw(const ValuePtr& v);
// A 4-D v stored channels-last: v itself, or a reordered copy.
ValuePtr to_nhwc(const ValuePtr& v);

}  // namespace compress::runtime
