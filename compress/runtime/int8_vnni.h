// The int8 loops' shared AVX512-VNNI pieces (conv_1x1_int8.cpp,
// conv_dw_int8.cpp): the epilogue that turns exact int32 sums into oneDNN's
// outputs, op for op, and an in-place vpdpbusd. Internal: included only by
// files whose functions carry COMPRESS_VNNI.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "compress/runtime/conv_1x1_int8.h"

namespace compress::runtime::vnni {

#define COMPRESS_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

// The activations the vector epilogue has a fixed form for (Int8Requant's
// forms); any other chain runs apply_eltwise's ops one by one (kGeneric).
enum Act {
  kGeneric = Int8Requant::op_by_op,
  kNone = Int8Requant::none,
  kRelu = Int8Requant::relu,
  kLeaky = Int8Requant::leaky,
  kHardSwish = Int8Requant::hard_swish
};

// The post-op chain on 16 floats: each op as oneDNN's JIT computes it.
COMPRESS_VNNI inline __m512 eltwise16(const Eltwise& e, __m512 v) {
  switch (e.alg) {
    case Eltwise::relu: {
      const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
      return _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, _mm512_set1_ps(e.alpha)), v);
    }
    case Eltwise::clip:
      return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(e.alpha)), _mm512_set1_ps(e.beta));
    case Eltwise::linear:
      return _mm512_fmadd_ps(_mm512_set1_ps(e.alpha), v, _mm512_set1_ps(e.beta));
    case Eltwise::hard_swish: {
      const __m512 t =
          _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.f)), _mm512_setzero_ps()), _mm512_set1_ps(6.f));
      return _mm512_div_ps(_mm512_mul_ps(v, t), _mm512_set1_ps(6.f));
    }
    case Eltwise::logistic:
      break;  // not vectorized (vectorized() says so)
  }
  return v;
}

// What the epilogue reads, copied out of the conv once per tile: through
// the conv itself, every store to the output (which could alias it, as far
// as the compiler knows) would reload each field.
struct Epi {
  const float* bias16;
  const float* scale16;
  const std::vector<Eltwise>* post;
  float act_alpha, out_mul;
  int out;
  int64_t out_channels;
};

// 16 sums of output channels [o, o + 16) to floats after the whole chain:
// plus the bias, times the scale (oneDNN's order), the activation, then the
// 1 / s_y of a conv writing codes (a linear with beta 0: one multiply).
template <int ACT>
COMPRESS_VNNI inline __m512 epilogue16(const Epi& c, int64_t o, __m512i acc) {
  __m512 v = _mm512_cvtepi32_ps(acc);
  v = _mm512_add_ps(v, _mm512_loadu_ps(c.bias16 + o));
  v = _mm512_mul_ps(v, _mm512_loadu_ps(c.scale16 + o));
  if constexpr (ACT == kGeneric) {
    for (const auto& e : *c.post) v = eltwise16(e, v);
    return v;
  } else {
    if constexpr (ACT == kRelu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    if constexpr (ACT == kLeaky) {
      const __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
      v = _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, _mm512_set1_ps(c.act_alpha)), v);
    }
    if constexpr (ACT == kHardSwish) v = eltwise16({Eltwise::hard_swish}, v);
    return c.out_mul == 1.f ? v : _mm512_mul_ps(v, _mm512_set1_ps(c.out_mul));
  }
}

// acc + the 4-byte dot products of a (unsigned) and b (signed), in place:
// written as asm because GCC 12 gives the intrinsic's tied accumulator a
// fresh register each iteration and copies it back (as many moves as
// multiply-adds in the loop).
COMPRESS_VNNI inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

}  // namespace compress::runtime::vnni
