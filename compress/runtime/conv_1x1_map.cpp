#include "compress/runtime/conv_1x1_map.h"

#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace compress::runtime {

float apply_eltwise(const Eltwise& e, float v) {
  switch (e.alg) {
    case Eltwise::relu:
      return v > 0 ? v : v * e.alpha;
    case Eltwise::clip:
      v = v > e.alpha ? v : e.alpha;
      return v > e.beta ? e.beta : v;
    case Eltwise::linear:
      return e.alpha * v + e.beta;
    case Eltwise::hard_swish:
      return v * std::min(std::max(v + 3.f, 0.f), 6.f) / 6.f;
    case Eltwise::logistic:
      return 1.f / (1.f + std::exp(-v));
  }
  return v;
}

namespace {
// sum_k x[k] * w[k], exact in int32 (|x| <= 255, |w| <= 127, C < 2^16).
template <class X>
int32_t dot(const X* x, const int8_t* w, int64_t n) {
  int32_t acc = 0;
  for (int64_t k = 0; k < n; ++k) acc += static_cast<int32_t>(x[k]) * static_cast<int32_t>(w[k]);
  return acc;
}
// 16 output channels at once with VNNI: the weights packed as [O / 16][C / 4]
// blocks of 16 channels x 4 inputs (64 bytes), each block one vpdpbusd with
// the 4 input codes broadcast. vpdpbusd multiplies unsigned by signed bytes,
// so int8 codes are read with their sign bit flipped (x + 128) and 128 *
// sum(w) is taken off again: exact.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void dot16_vnni(const uint8_t* x, const int8_t* packed,
                                                                       int64_t groups, bool flip, const int32_t* comp,
                                                                       int32_t* acc16) {
  const __m512i f = _mm512_set1_epi32(flip ? static_cast<int32_t>(0x80808080u) : 0);
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  int64_t g = 0;
  for (; g + 2 <= groups; g += 2) {
    int32_t v0, v1;
    std::memcpy(&v0, x + 4 * g, 4);
    std::memcpy(&v1, x + 4 * g + 4, 4);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_set1_epi32(v0), f), _mm512_loadu_si512(packed + 64 * g));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_set1_epi32(v1), f), _mm512_loadu_si512(packed + 64 * g + 64));
  }
  if (g < groups) {
    int32_t v0;
    std::memcpy(&v0, x + 4 * g, 4);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_set1_epi32(v0), f), _mm512_loadu_si512(packed + 64 * g));
  }
  __m512i a = _mm512_add_epi32(a0, a1);
  if (flip) a = _mm512_sub_epi32(a, _mm512_loadu_si512(comp));
  _mm512_storeu_si512(acc16, a);
}
#pragma GCC diagnostic pop
bool has_vnni() {
  static const bool v = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
  return v;
}
}  // namespace

void Conv1x1MapInt8::pack() {
  const int64_t C = in_channels, O = out_channels, G = (C + 3) / 4, NB = (O + 15) / 16;
  packed.assign(static_cast<size_t>(NB * G * 64), 0);
  comp.assign(static_cast<size_t>(NB * 16), 0);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t k = 0; k < C; ++k) {
      const int8_t w = weights[o * C + k];
      packed[((o / 16) * G + k / 4) * 64 + (o % 16) * 4 + k % 4] = w;
      comp[o] += 128 * w;
    }
}

void Conv1x1MapInt8::run(const void* x, bool x_s8, void* y) const {
  const int64_t C = in_channels, G = (C + 3) / 4;
  // The codes padded to whole groups of 4 (their weights are 0); the
  // buffer is kept per thread, so a run allocates nothing.
  thread_local std::vector<uint8_t> xs;
  xs.assign(static_cast<size_t>(G * 4), 0);
  std::memcpy(xs.data(), x, static_cast<size_t>(C));
  const bool vnni = has_vnni() && !packed.empty();
  int32_t acc16[16];
  for (int64_t o = 0; o < out_channels; ++o) {
    int32_t acc;
    if (vnni) {
      if (o % 16 == 0) dot16_vnni(xs.data(), packed.data() + (o / 16) * G * 64, G, x_s8, comp.data() + o, acc16);
      acc = acc16[o % 16];
    } else {
      const int8_t* w = weights.data() + o * C;
      acc = x_s8 ? dot(static_cast<const int8_t*>(x), w, C) : dot(static_cast<const uint8_t*>(x), w, C);
    }
    float v = static_cast<float>(acc);
    if (!bias_acc.empty()) v += bias_acc[o];
    v *= scale[o];
    for (const auto& e : post) v = apply_eltwise(e, v);
    if (out == 0) {
      static_cast<float*>(y)[o] = v;
    } else {
      const float lo = out == 1 ? 0.f : -128.f, hi = out == 1 ? 255.f : 127.f;
      // Saturate, then round half to even (adding and removing 1.5 * 2^23).
      const float q = (std::min(std::max(v, lo), hi) + 12582912.f) - 12582912.f;
      if (out == 1)
        static_cast<uint8_t*>(y)[o] = static_cast<uint8_t>(q);
      else
        static_cast<int8_t*>(y)[o] = static_cast<int8_t>(q);
    }
  }
}

}  // namespace compress::runtime
