#include "compress/runtime/conv_1x1_int8.h"

#include "compress/runtime/int8_vnni.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compress/runtime/parallel.h"

namespace compress::runtime {

// oneDNN's forms, op for op: linear is one fused multiply-add, h-swish
// x * clip(x + 3, 0, 6) / 6.
float apply_eltwise(const Eltwise& e, float v) {
  switch (e.alg) {
    case Eltwise::relu:
      return v > 0 ? v : v * e.alpha;
    case Eltwise::clip:
      v = v > e.alpha ? v : e.alpha;
      return v > e.beta ? e.beta : v;
    case Eltwise::linear:
      return std::fma(e.alpha, v, e.beta);
    case Eltwise::hard_swish:
      return v * std::min(std::max(v + 3.f, 0.f), 6.f) / 6.f;
    case Eltwise::logistic:
      return 1.f / (1.f + std::exp(-v));
  }
  return v;
}

bool cpu_has_vnni() {
  static const bool v = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
  return v;
}

void Int8Requant::plan() {
  form = op_by_op;
  std::vector<Eltwise> acts = post;
  bool fixed = true;
  out_mul = 1;
  if (out != 0 && !acts.empty() && acts.back().alg == Eltwise::linear) {
    // The 1 / s_y as the chain's last op (where the scale does not hold it).
    fixed = acts.back().beta == 0.f;
    if (fixed) {
      out_mul = acts.back().alpha;
      acts.pop_back();
    }
  }
  if (fixed && acts.empty()) form = none;
  if (fixed && acts.size() == 1 && acts[0].alg == Eltwise::relu) form = acts[0].alpha == 0.f ? relu : leaky;
  if (fixed && acts.size() == 1 && acts[0].alg == Eltwise::hard_swish) form = hard_swish;
  act_alpha = acts.empty() ? 0.f : acts[0].alpha;
}

bool Int8Requant::vector_chain() const {
  return std::none_of(post.begin(), post.end(), [](const Eltwise& e) { return e.alg == Eltwise::logistic; });
}

namespace {

// sum_k x[k] * w[k], exact in int32 (|x| <= 255, |w| <= 127, C < 2^16).
template <class X>
int32_t dot(const X* x, const int8_t* w, int64_t n) {
  int32_t acc = 0;
  for (int64_t k = 0; k < n; ++k) acc += static_cast<int32_t>(x[k]) * static_cast<int32_t>(w[k]);
  return acc;
}

// One output value from its exact sum, the scalar form of finish16 below.
void finish1(const Conv1x1Int8& c, int64_t o, int32_t acc, void* y, int64_t at) {
  float v = static_cast<float>(acc);
  const Int8Requant& r = c.rq;
  if (!r.bias_acc.empty()) v += r.bias_acc[o];
  v *= r.scale[o];
  for (const auto& e : r.post) v = apply_eltwise(e, v);
  if (r.out == 0) {
    static_cast<float*>(y)[at] = v;
    return;
  }
  const float lo = r.out == 1 ? 0.f : -128.f, hi = r.out == 1 ? 255.f : 127.f;
  // Saturate, then round half to even (adding and removing 1.5 * 2^23).
  const float q = (std::min(std::max(v, lo), hi) + 12582912.f) - 12582912.f;
  if (r.out == 1)
    static_cast<uint8_t*>(y)[at] = static_cast<uint8_t>(q);
  else
    static_cast<int8_t*>(y)[at] = static_cast<int8_t>(q);
}

void run_scalar(const Conv1x1Int8& c, const void* x, int64_t p0, int64_t p1, bool x_s8, void* y) {
  const int64_t C = c.in_channels, O = c.out_channels;
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t o = 0; o < O; ++o) {
      const int8_t* w = c.weights.data() + o * C;
      const int32_t acc =
          x_s8 ? dot(static_cast<const int8_t*>(x) + p * C, w, C) : dot(static_cast<const uint8_t*>(x) + p * C, w, C);
      finish1(c, o, acc, y, p * O + o);
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
using namespace vnni;

// The conv's epilogue fields, read once per tile.
inline Epi epi_of(const Conv1x1Int8& c) {
  return Epi{c.bias16.data(), c.scale16.data(), &c.rq.post, c.rq.act_alpha, c.rq.out_mul, c.rq.out, c.out_channels};
}

// One pixel's NB x 16 outputs, written at y + at (elements). Codes are
// saturated in float, then rounded to nearest even (the default MXCSR
// mode); four whole blocks go out as one 64-byte store.
template <int NB>
COMPRESS_VNNI inline void store_pixel(const Epi& c, int64_t o, const __m512 (&v)[NB], void* y, int64_t at) {
  const int64_t left = c.out_channels - o;
  auto keep = [&](int j) {
    const int64_t n = std::min<int64_t>(16, left - 16 * j);
    return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
  };
  if (c.out == 0) {
    for (int j = 0; j < NB; ++j) _mm512_mask_storeu_ps(static_cast<float*>(y) + at + 16 * j, keep(j), v[j]);
    return;
  }
  const bool u8 = c.out == 1;
  const __m512 lo = _mm512_set1_ps(u8 ? 0.f : -128.f), hi = _mm512_set1_ps(u8 ? 255.f : 127.f);
  __m512i q[NB];
  for (int j = 0; j < NB; ++j) q[j] = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v[j], lo), hi));
  auto* dst = static_cast<uint8_t*>(y) + at;
  if constexpr (NB == 4) {
    if (left >= 64) {
      // packs interleave the four vectors by 128-bit lane: dword 4 L + j
      // holds vector j's lane L; the permute puts each vector's 16 bytes back
      // in order.
      const __m512i a = _mm512_packs_epi32(q[0], q[1]), b = _mm512_packs_epi32(q[2], q[3]);
      const __m512i r = u8 ? _mm512_packus_epi16(a, b) : _mm512_packs_epi16(a, b);
      const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
      _mm512_storeu_si512(dst, _mm512_permutexvar_epi32(idx, r));
      return;
    }
  }
  for (int j = 0; j < NB; ++j) {
    const __m128i b = u8 ? _mm512_cvtusepi32_epi8(q[j]) : _mm512_cvtsepi32_epi8(q[j]);
    _mm_mask_storeu_epi8(dst + 16 * j, keep(j), b);
  }
}

// A run of pixels' codes: pixel i's C bytes (C = 4 G, padded) at x + i * C.
struct Src {
  const uint8_t* x;
  int64_t C, G;
  bool xor_flip;  // int8 codes: flipped on load (x + 128), the sums started at -128 * sum(w)
};

// The weights are packed as [O / 16 blocks][G groups][16 channels][4
// inputs]: one 64-byte row per (block, group), one vpdpbusd with a pixel's 4
// input codes broadcast. A tile is NB blocks (16 NB channels) of P pixels,
// its P x NB sums held in registers while the groups go by (each group's NB
// weight rows loaded once for the P pixels). vpdpbusd multiplies unsigned by
// signed bytes, so int8 codes are read with their sign bit flipped (x + 128)
// and 128 * sum(w) is taken off again: exact. Pixels i0.. of src write
// outputs p.. of y.
template <int NB, int P, int ACT, bool XOR>
COMPRESS_VNNI void tile(const Conv1x1Int8& c, const Src& src, int64_t i0, int64_t p, int64_t blk, void* y) {
  const int64_t O = c.out_channels, G = src.G;
  const int8_t* w = c.packed.data() + blk * G * 64;
  const __m512i f = _mm512_set1_epi32(src.xor_flip ? static_cast<int32_t>(0x80808080u) : 0);
  const int64_t o = blk * 16;
  __m512i acc[P][NB];
  for (int j = 0; j < NB; ++j) {
    const __m512i start = src.xor_flip
                              ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(c.comp.data() + o + 16 * j))
                              : _mm512_setzero_si512();
    for (int i = 0; i < P; ++i) acc[i][j] = start;
  }
  const uint8_t* xp = src.x + i0 * src.C;
  for (int64_t g = 0; g < G; ++g) {
    __m512i wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_si512(w + (j * G + g) * 64);
    for (int i = 0; i < P; ++i) {
      int32_t v;
      std::memcpy(&v, xp + i * src.C + 4 * g, 4);
      const __m512i b = XOR ? _mm512_xor_si512(_mm512_set1_epi32(v), f) : _mm512_set1_epi32(v);
      for (int j = 0; j < NB; ++j) acc[i][j] = dpbusd(acc[i][j], b, wv[j]);
    }
  }
  const Epi e = epi_of(c);
  for (int i = 0; i < P; ++i) {
    __m512 v[NB];
    for (int j = 0; j < NB; ++j) v[j] = epilogue16<ACT>(e, o + 16 * j, acc[i][j]);
    store_pixel<NB>(e, o, v, y, (p + i) * O + o);
  }
}

// Pixels per tile for NB blocks: the P x NB sums, NB weight rows, the
// broadcast and the flip in 32 registers.
template <int NB>
constexpr int tile_pixels() {
  return NB == 4 ? 4 : NB == 3 ? 5 : 8;
}

// Pixels [i0, i0 + n) of src (outputs p..) through blocks [blk, blk + NB):
// whole tiles, then one pixel at a time.
template <int NB, int ACT>
COMPRESS_VNNI void blocks_over_pixels(const Conv1x1Int8& c, const Src& src, int64_t i0, int64_t n, int64_t p,
                                      int64_t blk, void* y) {
  constexpr int P = tile_pixels<NB>();
  int64_t i = 0;
  if (src.xor_flip) {
    for (; i + P <= n; i += P) tile<NB, P, ACT, true>(c, src, i0 + i, p + i, blk, y);
    for (; i < n; ++i) tile<NB, 1, ACT, true>(c, src, i0 + i, p + i, blk, y);
  } else {
    for (; i + P <= n; i += P) tile<NB, P, ACT, false>(c, src, i0 + i, p + i, blk, y);
    for (; i < n; ++i) tile<NB, 1, ACT, false>(c, src, i0 + i, p + i, blk, y);
  }
}

// n pixels from i0 in chunks of 280 (a multiple of every tile's P), each
// through every block of output channels in runs of 4 (64 channels), so a
// chunk's input stays in L1.
template <int ACT>
COMPRESS_VNNI void run_vnni(const Conv1x1Int8& c, const Src& src, int64_t i0, int64_t n, int64_t p, void* y) {
  const int64_t blocks = (c.out_channels + 15) / 16;
  for (int64_t q = 0; q < n; q += 280) {
    const int64_t m = std::min<int64_t>(280, n - q);
    int64_t blk = 0;
    for (; blk + 4 <= blocks; blk += 4) blocks_over_pixels<4, ACT>(c, src, i0 + q, m, p + q, blk, y);
    switch (blocks - blk) {
      case 3:
        blocks_over_pixels<3, ACT>(c, src, i0 + q, m, p + q, blk, y);
        break;
      case 2:
        blocks_over_pixels<2, ACT>(c, src, i0 + q, m, p + q, blk, y);
        break;
      case 1:
        blocks_over_pixels<1, ACT>(c, src, i0 + q, m, p + q, blk, y);
        break;
      default:
        break;
    }
  }
}

void run_vnni_any(const Conv1x1Int8& c, const Src& src, int64_t i0, int64_t n, int64_t p, void* y) {
  switch (c.rq.form) {
    case kNone:
      return run_vnni<kNone>(c, src, i0, n, p, y);
    case kRelu:
      return run_vnni<kRelu>(c, src, i0, n, p, y);
    case kLeaky:
      return run_vnni<kLeaky>(c, src, i0, n, p, y);
    case kHardSwish:
      return run_vnni<kHardSwish>(c, src, i0, n, p, y);
    default:
      return run_vnni<kGeneric>(c, src, i0, n, p, y);
  }
}

#pragma GCC diagnostic pop
}  // namespace

void Conv1x1Int8::pack() {
  const int64_t C = in_channels, O = out_channels, G = (C + 3) / 4, NB = (O + 15) / 16;
  packed.assign(static_cast<size_t>(NB * G * 64), 0);
  comp.assign(static_cast<size_t>(NB * 16), 0);
  bias16.assign(static_cast<size_t>(NB * 16), 0.f);
  scale16.assign(static_cast<size_t>(NB * 16), 0.f);
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t k = 0; k < C; ++k) {
      const int8_t w = weights[o * C + k];
      packed[((o / 16) * G + k / 4) * 64 + (o % 16) * 4 + k % 4] = w;
      comp[o] += 128 * w;
    }
    if (!rq.bias_acc.empty()) bias16[o] = rq.bias_acc[o];
    scale16[o] = rq.scale[o];
  }
  rq.plan();
}

bool Conv1x1Int8::vectorized() const { return cpu_has_vnni() && !packed.empty() && rq.vector_chain(); }

void Conv1x1Int8::run(const void* x, int64_t pixels, bool x_s8, void* y) const {
  if (!vectorized()) {
    parallel_ranges(
        pixels, [&](int64_t p0, int64_t p1) { run_scalar(*this, x, p0, p1, x_s8, y); }, 1,
        in_channels * out_channels / 16 + 1);
    return;
  }
  const int64_t C = in_channels, C4 = (C + 3) / 4 * 4;
  const auto* xb = static_cast<const uint8_t*>(x);
  if (C4 != C) {
    // Each pixel's codes padded to whole groups of 4 (their weights are 0);
    // the buffer is kept per thread, so a run allocates nothing once warm.
    thread_local std::vector<uint8_t> padded;
    padded.assign(static_cast<size_t>(pixels * C4), 0);
    for (int64_t p = 0; p < pixels; ++p) std::memcpy(padded.data() + p * C4, xb + p * C, static_cast<size_t>(C));
    xb = padded.data();
  }
  const Src src{xb, C4, C4 / 4, x_s8};
  parallel_ranges(
      pixels, [&](int64_t p0, int64_t p1) { run_vnni_any(*this, src, p0, p1 - p0, p0, y); }, 280,
      in_channels * out_channels / 16 + 1);
}

}  // namespace compress::runtime
