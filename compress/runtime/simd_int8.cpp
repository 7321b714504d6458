#include "compress/runtime/simd_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

// GCC 12 warns inside its own AVX-512 headers (the `undefined` passthrough
// vectors of the masked conversions): a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace compress::runtime::simd {

#define COMPRESS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace {
// COMPRESS_SIMD=0: the portable loops; =novbmi: AVX-512 without VBMI (the
// h-swish's floats written out), as on CPUs that lack them.
const char* simd_cap() {
  const char* e = std::getenv("COMPRESS_SIMD");
  return e ? e : "";
}
}  // namespace

bool avx512() {
  static const bool ok = std::string(simd_cap()) != "0" && __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
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
// (the conversion's default mode, as the portable 1.5 * 2^23 trick). (A
// multiply by 1 / s, dividing only the lanes near a half-integer, gives the
// same codes but made every pass slower here: they are not bound by the
// division.)
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
  // The image comes from the caller, cold and on 4 KiB pages, where the
  // hardware prefetcher stops at every page: each line is asked for 4 KiB
  // ahead (the int8 SSDLite-Large's image, 1.2 MB: 154 -> 95 us in the
  // model; 1 KiB ahead 111, 16 KiB 103).
  constexpr int64_t ahead = 1024;
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    if (k + ahead < n) _mm_prefetch(reinterpret_cast<const char*>(x + k + ahead), _MM_HINT_T0);
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

// Channels [c0, c1) of an NHWC image summed over its HW pixels, pixel by
// pixel (each channel's sum in the pixels' order, 0 + v1 + v2 ..., as the
// portable loop adds them), 64 channels at a time.
template <class T>
COMPRESS_AVX512 void channel_sums_t(const T* x, const Operand& o, float* r, int64_t HW, int64_t C, int64_t c0,
                                    int64_t c1) {
  const __m512 s = _mm512_set1_ps(o.scale);
  const __m512i zp = _mm512_set1_epi32(o.zp);
  for (int64_t c = c0; c < c1; c += 64) {
    const int nj = static_cast<int>(std::min<int64_t>(4, (c1 - c + 15) / 16));
    __mmask16 m[4];
    __m512 acc[4];
    for (int j = 0; j < 4; ++j) {
      m[j] = j < nj ? tail_mask(c1 - c - 16 * j) : 0;
      acc[j] = _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < HW; ++p) {
      const T* xp = x + p * C + c;
      for (int j = 0; j < nj; ++j) acc[j] = _mm512_add_ps(acc[j], load16(xp + 16 * j, m[j], s, zp));
    }
    for (int j = 0; j < nj; ++j) _mm512_mask_storeu_ps(r + c + 16 * j, m[j], acc[j]);
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

// The kernels below read an int8 h-swish's codes (Operand::hswish) as the
// floats the six nodes give, without those floats ever being written: the
// hard-sigmoid code of each byte is a 256-byte table looked up with two
// vpermi2b (AVX-512 VBMI), then the same multiplies as HardSwishOnCodes::apply.
#define COMPRESS_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

namespace {

// A 256-byte table in four registers, looked up 64 bytes at a time: the
// two 128-byte halves with vpermi2b (by the index's low 7 bits), chosen by
// the index's top bit.
struct ByteTable {
  __m512i t[4];
};

COMPRESS_VBMI inline ByteTable byte_table(const uint8_t* table) {
  ByteTable r;
  for (int i = 0; i < 4; ++i) r.t[i] = _mm512_loadu_si512(table + 64 * i);
  return r;
}

COMPRESS_VBMI inline __m512i look_up(const ByteTable& b, __m512i idx) {
  const __m512i lo = _mm512_permutex2var_epi8(b.t[0], idx, b.t[1]);
  const __m512i hi = _mm512_permutex2var_epi8(b.t[2], idx, b.t[3]);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

struct HsRegs {
  ByteTable hsig;
  __m512 scale;
};

COMPRESS_VBMI inline HsRegs hs_regs(const HardSwishOnCodes& h) {
  return {byte_table(h.hsig), _mm512_set1_ps(h.hsig_scale)};
}

// 16-byte lane j of v.
COMPRESS_VBMI inline __m128i lane16(__m512i v, int j) {
  switch (j) {
    case 0:
      return _mm512_castsi512_si128(v);
    case 1:
      return _mm512_extracti32x4_epi32(v, 1);
    case 2:
      return _mm512_extracti32x4_epi32(v, 2);
    default:
      return _mm512_extracti32x4_epi32(v, 3);
  }
}

// The h-swish of up to 64 codes from p (`left` of them, at least 1):
// out[j] = lanes 16 j .. 16 j + 15 of h-swish(s * float(q - zp)). The
// hard-sigmoid codes of all 64 bytes come from one pair of vpermi2b.
template <class T>
COMPRESS_VBMI inline void load64h(const T* p, int64_t left, __m512 s, __m512i zp, const HsRegs& h, __m512 out[4]) {
  const __mmask64 m = left >= 64 ? ~uint64_t{0} : (uint64_t{1} << left) - 1;
  const __m512i b = _mm512_maskz_loadu_epi8(m, p);
  const __m512i q = look_up(h.hsig, b);
  for (int j = 0; j < 4; ++j) {
    const __m128i bj = lane16(b, j);
    const __m512i i = std::is_same_v<T, int8_t> ? _mm512_cvtepi8_epi32(bj) : _mm512_cvtepu8_epi32(bj);
    const __m512 y = _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(i, zp)));
    const __m512 hs = _mm512_mul_ps(h.scale, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lane16(q, j))));
    out[j] = _mm512_mul_ps(y, hs);
  }
}

template <class T>
COMPRESS_VBMI void hswish_floats_t(const T* x, const Operand& o, float* y, int64_t n) {
  const HsRegs h = hs_regs(*o.hswish);
  const __m512 s = _mm512_set1_ps(o.scale);
  const __m512i zp = _mm512_set1_epi32(o.zp);
  __m512 v[4];
  for (int64_t k = 0; k < n; k += 64) {
    load64h(x + k, n - k, s, zp, h, v);
    for (int j = 0; j < 4 && k + 16 * j < n; ++j) store16f(y + k + 16 * j, tail_mask(n - k - 16 * j), v[j]);
  }
}

// binary_t with `a` an h-swish of codes.
template <bool Add, class A, class B, class Out>
COMPRESS_VBMI void binary_h_t(const A* a, const Operand& oa, const B* b, const Operand& ob, Out* y, int64_t n,
                              float s) {
  const HsRegs h = hs_regs(*oa.hswish);
  const __m512 sa = _mm512_set1_ps(oa.scale), sb = _mm512_set1_ps(ob.scale), vs = _mm512_set1_ps(s);
  const __m512i za = _mm512_set1_epi32(oa.zp), zb = _mm512_set1_epi32(ob.zp);
  __m512 u[4];
  for (int64_t k = 0; k < n; k += 64) {
    load64h(a + k, n - k, sa, za, h, u);
    for (int j = 0; j < 4 && k + 16 * j < n; ++j) {
      const int64_t e = k + 16 * j;
      const __mmask16 m = tail_mask(n - e);
      const __m512 w = load16(b + e, m, sb, zb);
      store16(y + e, m, Add ? _mm512_add_ps(u[j], w) : _mm512_mul_ps(u[j], w), vs);
    }
  }
}

// per_channel_t with `x` an h-swish of codes.
template <class X, class Out>
COMPRESS_VBMI void per_channel_h_t(const X* x, const Operand& ox, const float* g, bool x_first, Out* y, int64_t P,
                                   int64_t C, float s) {
  const HsRegs h = hs_regs(*ox.hswish);
  const __m512 sx = _mm512_set1_ps(ox.scale), vs = _mm512_set1_ps(s);
  const __m512i zx = _mm512_set1_epi32(ox.zp);
  __m512 u[4];
  for (int64_t p = 0; p < P; ++p) {
    const X* xp = x + p * C;
    Out* yp = y + p * C;
    for (int64_t c = 0; c < C; c += 64) {
      load64h(xp + c, C - c, sx, zx, h, u);
      for (int j = 0; j < 4 && c + 16 * j < C; ++j) {
        const int64_t e = c + 16 * j;
        const __mmask16 m = tail_mask(C - e);
        const __m512 gv = _mm512_maskz_loadu_ps(m, g + e);
        store16(yp + e, m, x_first ? _mm512_mul_ps(u[j], gv) : _mm512_mul_ps(gv, u[j]), vs);
      }
    }
  }
}

// Channels [c0, c1) of an NHWC image summed over its HW pixels, pixel by
// pixel: each channel's sum in the pixels' order, as the plain loop adds
// the floats (0 + v1 + v2 ...), 64 channels at a time.
template <class T>
COMPRESS_VBMI void channel_sums_h_t(const T* x, const Operand& o, float* r, int64_t HW, int64_t C, int64_t c0,
                                    int64_t c1) {
  const HsRegs h = hs_regs(*o.hswish);
  const __m512 s = _mm512_set1_ps(o.scale);
  const __m512i zp = _mm512_set1_epi32(o.zp);
  __m512 v[4];
  for (int64_t c = c0; c < c1; c += 64) {
    __m512 acc[4];
    for (int j = 0; j < 4; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < HW; ++p) {
      load64h(x + p * C + c, c1 - c, s, zp, h, v);
      for (int j = 0; j < 4; ++j) acc[j] = _mm512_add_ps(acc[j], v[j]);  // lanes past c1 are never stored
    }
    for (int j = 0; j < 4 && c + 16 * j < c1; ++j)
      _mm512_mask_storeu_ps(r + c + 16 * j, tail_mask(c1 - c - 16 * j), acc[j]);
  }
}

// Calls f with the codes' pointer typed (an h-swish operand holds codes).
template <class F>
void typed_codes(const Operand& o, F&& f) {
  if (o.type == DType::s8)
    f(static_cast<const int8_t*>(o.p));
  else
    f(static_cast<const uint8_t*>(o.p));
}

}  // namespace

void quantize(const float* x, void* y, bool s8, int64_t n, float s) {
  if (s8)
    quantize_t(x, static_cast<int8_t*>(y), n, s);
  else
    quantize_t(x, static_cast<uint8_t*>(y), n, s);
}

void binary(bool add, const Operand& a_in, const Operand& b_in, void* y, bool s8, int64_t n, float s) {
  // An h-swish operand goes first: a + b and a * b are the same bits either way round.
  const bool swap = b_in.hswish && !a_in.hswish;
  const Operand& a = swap ? b_in : a_in;
  const Operand& b = swap ? a_in : b_in;
  if (a.hswish) {
    typed_codes(a, [&](auto pa) {
      typed(b, [&](auto pb) {
        if (add && s8) binary_h_t<true>(pa, a, pb, b, static_cast<int8_t*>(y), n, s);
        if (add && !s8) binary_h_t<true>(pa, a, pb, b, static_cast<uint8_t*>(y), n, s);
        if (!add && s8) binary_h_t<false>(pa, a, pb, b, static_cast<int8_t*>(y), n, s);
        if (!add && !s8) binary_h_t<false>(pa, a, pb, b, static_cast<uint8_t*>(y), n, s);
      });
    });
    return;
  }
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
  if (x.hswish) {
    typed_codes(x, [&](auto px) {
      if (s8)
        per_channel_h_t(px, x, g, x_first, static_cast<int8_t*>(y), P, C, s);
      else
        per_channel_h_t(px, x, g, x_first, static_cast<uint8_t*>(y), P, C, s);
    });
    return;
  }
  typed(x, [&](auto px) {
    if (s8)
      per_channel_t(px, x, g, x_first, static_cast<int8_t*>(y), P, C, s);
    else
      per_channel_t(px, x, g, x_first, static_cast<uint8_t*>(y), P, C, s);
  });
}

bool avx512_vbmi() {
  static const bool ok = avx512() && std::string(simd_cap()) != "novbmi" && __builtin_cpu_supports("avx512vbmi");
  return ok;
}

COMPRESS_VBMI void lookup_bytes(const uint8_t* in, uint8_t* out, int64_t n, const uint8_t* table) {
  const ByteTable t = byte_table(table);
  int64_t k = 0;
  for (; k + 64 <= n; k += 64) _mm512_storeu_si512(out + k, look_up(t, _mm512_loadu_si512(in + k)));
  for (; k < n; ++k) out[k] = table[in[k]];
}

void hswish_floats(const Operand& x, float* y, int64_t n) {
  typed_codes(x, [&](auto px) { hswish_floats_t(px, x, y, n); });
}

void channel_sums(const Operand& x, float* r, int64_t HW, int64_t C, int64_t c0, int64_t c1) {
  if (x.hswish)
    typed_codes(x, [&](auto px) { channel_sums_h_t(px, x, r, HW, C, c0, c1); });
  else
    typed(x, [&](auto px) { channel_sums_t(px, x, r, HW, C, c0, c1); });
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
