#include "compress/runtime/simd_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

// GCC 12 warns inside its own AVX-512 headers (the `undefined` passthrough
// vectors of the masked conversions): a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace compress::runtime::simd {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

bool avx512() {
  static const bool ok =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return ok;
}

namespace {

// Up to 16 lanes (mask m) of an operand from element k, as floats:
// s * float(q - zp) for codes, as the portable load().
template <class T>
COMPRESS_AVX512 inline __m512 load16(const T* p, __mmask16 m, __m512 s, __m512i zp) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    const __m128i b = _mm_maskz_loadu_epi8(m, p);
    const __m512i i = std::is_same_v<T, int8_t> ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    return _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(i, zp)));
  }
}

// Q(v) on grid s into up to 16 codes: v / s, clamped, rounded half to even
// (the conversion's default mode, as the portable 1.5 * 2^23 trick).
template <class Out>
COMPRESS_AVX512 inline void store16(Out* p, __mmask16 m, __m512 v, __m512 s) {
  constexpr bool s8 = std::is_same_v<Out, int8_t>;
  v = _mm512_div_ps(v, s);
  v = _mm512_max_ps(v, _mm512_set1_ps(s8 ? -128.f : 0.f));
  v = _mm512_min_ps(v, _mm512_set1_ps(s8 ? 127.f : 255.f));
  const __m512i q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // Narrowed in a register, then stored: the narrowing store to memory
  // (vpmovsdb m128) is microcoded on AMD's cores, 5x slower than this loop.
  const __m128i b = s8 ? _mm512_cvtsepi32_epi8(q) : _mm512_cvtusepi32_epi8(q);
  if (m == 0xFFFF)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b);
  else
    _mm_mask_storeu_epi8(p, m, b);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1); }

// 16 floats, masked only for the tail: a masked store to memory is several
// times slower than a plain one on AMD's cores.
COMPRESS_AVX512 inline void store16f(float* p, __mmask16 m, __m512 v) {
  if (m == 0xFFFF)
    _mm512_storeu_ps(p, v);
  else
    _mm512_mask_storeu_ps(p, m, v);
}

template <class Out>
COMPRESS_AVX512 void quantize_t(const float* x, Out* y, int64_t n, float s) {
  const __m512 vs = _mm512_set1_ps(s);
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    store16(y + k, m, load16(x + k, m, vs, zero), vs);
  }
}

template <bool Add, class A, class B, class Out>
COMPRESS_AVX512 void binary_t(const A* a, const Operand& oa, const B* b, const Operand& ob, Out* y, int64_t n,
                              float s) {
  const __m512 sa = _mm512_set1_ps(oa.scale), sb = _mm512_set1_ps(ob.scale), vs = _mm512_set1_ps(s);
  const __m512i za = _mm512_set1_epi32(oa.zp), zb = _mm512_set1_epi32(ob.zp);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    const __m512 u = load16(a + k, m, sa, za), w = load16(b + k, m, sb, zb);
    store16(y + k, m, Add ? _mm512_add_ps(u, w) : _mm512_mul_ps(u, w), vs);
  }
}

template <bool Add, class A, class B>
COMPRESS_AVX512 void binary_float_t(const A* a, const Operand& oa, const B* b, const Operand& ob, float* y, int64_t n) {
  const __m512 sa = _mm512_set1_ps(oa.scale), sb = _mm512_set1_ps(ob.scale);
  const __m512i za = _mm512_set1_epi32(oa.zp), zb = _mm512_set1_epi32(ob.zp);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    const __m512 u = load16(a + k, m, sa, za), w = load16(b + k, m, sb, zb);
    store16f(y + k, m, Add ? _mm512_add_ps(u, w) : _mm512_mul_ps(u, w));
  }
}

template <class X, class Out>
COMPRESS_AVX512 void per_channel_t(const X* x, const Operand& ox, const float* g, bool x_first, Out* y, int64_t P,
                                   int64_t C, float s) {
  const __m512 sx = _mm512_set1_ps(ox.scale), vs = _mm512_set1_ps(s);
  const __m512i zx = _mm512_set1_epi32(ox.zp);
  if (C >= 16) {
    // The P x C block as one flat run of 16-lane steps, each lane's gate read
    // from the gate written twice (g, g) at the step's channel phase: one
    // masked tail for the block instead of one per pixel where 16 does not
    // divide C (72, 120 channels).
    std::vector<float> gg(2 * C);
    std::copy(g, g + C, gg.begin());
    std::copy(g, g + C, gg.begin() + C);
    const int64_t n = P * C;
    int64_t phase = 0;
    for (int64_t k = 0; k < n; k += 16) {
      const __mmask16 m = tail_mask(n - k);
      const __m512 xv = load16(x + k, m, sx, zx), gv = _mm512_loadu_ps(gg.data() + phase);
      store16(y + k, m, x_first ? _mm512_mul_ps(xv, gv) : _mm512_mul_ps(gv, xv), vs);
      phase += 16;
      if (phase >= C) phase -= C;
    }
    return;
  }
  for (int64_t p = 0; p < P; ++p) {
    const X* xp = x + p * C;
    Out* yp = y + p * C;
    const __mmask16 m = tail_mask(C);
    const __m512 xv = load16(xp, m, sx, zx), gv = _mm512_maskz_loadu_ps(m, g);
    store16(yp, m, x_first ? _mm512_mul_ps(xv, gv) : _mm512_mul_ps(gv, xv), vs);
  }
}

COMPRESS_AVX512 void lookup_float_t(const uint8_t* x, float* y, int64_t n, const float* table) {
  __m512 t[16];
  for (int i = 0; i < 16; ++i) t[i] = _mm512_loadu_ps(table + 16 * i);
  const __m512i bit5 = _mm512_set1_epi32(32), bit6 = _mm512_set1_epi32(64), bit7 = _mm512_set1_epi32(128);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    // Each permute reads entries [32 j, 32 j + 32) by the index's low 5 bits.
    const __m512i idx = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, x + k));
    __m512 r[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm512_permutex2var_ps(t[2 * j], idx, t[2 * j + 1]);
    const __mmask16 b5 = _mm512_test_epi32_mask(idx, bit5), b6 = _mm512_test_epi32_mask(idx, bit6),
                    b7 = _mm512_test_epi32_mask(idx, bit7);
    for (int j = 0; j < 4; ++j) r[j] = _mm512_mask_blend_ps(b5, r[2 * j], r[2 * j + 1]);
    for (int j = 0; j < 2; ++j) r[j] = _mm512_mask_blend_ps(b6, r[2 * j], r[2 * j + 1]);
    store16f(y + k, m, _mm512_mask_blend_ps(b7, r[0], r[1]));
  }
}

// Calls f with the operand's pointer typed by its DType.
template <class F>
void typed(const Operand& o, F&& f) {
  switch (o.type) {
    case DType::s8:
      return f(static_cast<const int8_t*>(o.p));
    case DType::u8:
      return f(static_cast<const uint8_t*>(o.p));
    default:
      return f(static_cast<const float*>(o.p));
  }
}

}  // namespace

void quantize(const float* x, void* y, bool s8, int64_t n, float s) {
  if (s8)
    quantize_t(x, static_cast<int8_t*>(y), n, s);
  else
    quantize_t(x, static_cast<uint8_t*>(y), n, s);
}

void binary(bool add, const Operand& a, const Operand& b, void* y, bool s8, int64_t n, float s) {
  typed(a, [&](auto pa) {
    typed(b, [&](auto pb) {
      if (add && s8) binary_t<true>(pa, a, pb, b, static_cast<int8_t*>(y), n, s);
      if (add && !s8) binary_t<true>(pa, a, pb, b, static_cast<uint8_t*>(y), n, s);
      if (!add && s8) binary_t<false>(pa, a, pb, b, static_cast<int8_t*>(y), n, s);
      if (!add && !s8) binary_t<false>(pa, a, pb, b, static_cast<uint8_t*>(y), n, s);
    });
  });
}

void binary_float(bool add, const Operand& a, const Operand& b, float* y, int64_t n) {
  typed(a, [&](auto pa) {
    typed(b, [&](auto pb) {
      if (add)
        binary_float_t<true>(pa, a, pb, b, y, n);
      else
        binary_float_t<false>(pa, a, pb, b, y, n);
    });
  });
}

void lookup_float(const uint8_t* x, float* y, int64_t n, const float* table) { lookup_float_t(x, y, n, table); }

void per_channel_mul(const Operand& x, const float* g, bool x_first, void* y, bool s8, int64_t P, int64_t C, float s) {
  typed(x, [&](auto px) {
    if (s8)
      per_channel_t(px, x, g, x_first, static_cast<int8_t*>(y), P, C, s);
    else
      per_channel_t(px, x, g, x_first, static_cast<uint8_t*>(y), P, C, s);
  });
}

bool avx512_vbmi() {
  static const bool ok = avx512() && __builtin_cpu_supports("avx512vbmi");
  return ok;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void planes3_to_pixels(const uint8_t* src, uint8_t* dst,
                                                                              int64_t P) {
  // Output byte j of a 192-byte block (64 pixels) is pixel j / 3's channel
  // j % 3. Channels 0 and 1 come from one two-register permute over planes
  // 0 and 1 (index 64 + p reads plane 1); channel 2 from a permute of plane 2,
  // blended in where j % 3 == 2.
  alignas(64) uint8_t idx01[3][64], idx2[3][64];
  __mmask64 from2[3];
  for (int k = 0; k < 3; ++k) {
    uint64_t m = 0;
    for (int i = 0; i < 64; ++i) {
      const int j = 64 * k + i, p = j / 3, ch = j % 3;
      idx01[k][i] = static_cast<uint8_t>(ch == 1 ? 64 + p : p);
      idx2[k][i] = static_cast<uint8_t>(p);
      if (ch == 2) m |= uint64_t{1} << i;
    }
    from2[k] = m;
  }
  __m512i i01[3], i2[3];
  for (int k = 0; k < 3; ++k) {
    i01[k] = _mm512_load_si512(idx01[k]);
    i2[k] = _mm512_load_si512(idx2[k]);
  }
  int64_t p = 0;
  for (; p + 64 <= P; p += 64) {
    const __m512i a = _mm512_loadu_si512(src + p), b = _mm512_loadu_si512(src + P + p);
    const __m512i c = _mm512_loadu_si512(src + 2 * P + p);
    for (int k = 0; k < 3; ++k) {
      const __m512i ab = _mm512_permutex2var_epi8(a, i01[k], b);
      const __m512i cc = _mm512_permutexvar_epi8(i2[k], c);
      _mm512_storeu_si512(dst + 3 * p + 64 * k, _mm512_mask_blend_epi8(from2[k], ab, cc));
    }
  }
  for (; p < P; ++p)
    for (int ch = 0; ch < 3; ++ch) dst[3 * p + ch] = src[ch * P + p];
}

}  // namespace compress::runtime::simd
