#include "compress/runtime/conv_dw_int8.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "compress/runtime/int8_vnni.h"
#include "compress/runtime/parallel.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace compress::runtime {

using namespace vnni;

namespace {
// Channel of lane (L, j) of quarter q in a block of 64.
inline int64_t lane_channel(int64_t q, int64_t lane) { return 16 * (lane / 4) + 4 * q + lane % 4; }
}  // namespace

void ConvDwInt8::pack() {
  const int64_t C = channels;
  blocks = (C + 63) / 64;
  groups = (kh + 3) / 4;
  packed.assign(static_cast<size_t>(blocks * kw * groups * 4 * 64), 0);
  comp.assign(static_cast<size_t>(blocks * 64), 0);
  bias64.assign(comp.size(), 0.f);
  scale64.assign(comp.size(), 0.f);
  for (int64_t cb = 0; cb < blocks; ++cb)
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t lane = 0; lane < 16; ++lane) {
        const int64_t c = 64 * cb + lane_channel(q, lane), slot = 64 * cb + 16 * q + lane;
        if (c >= C) continue;
        for (int64_t a = 0; a < kh; ++a)
          for (int64_t b = 0; b < kw; ++b) {
            const int8_t w = weights[(c * kh + a) * kw + b];
            packed[static_cast<size_t>((((cb * kw + b) * groups + a / 4) * 4 + q) * 64 + lane * 4 + a % 4)] = w;
            comp[slot] -= 128 * w;
          }
        bias64[slot] = rq.bias_acc.empty() ? 0.f : rq.bias_acc[c];
        scale64[slot] = rq.scale[c];
      }
  rq.plan();
}

namespace {

// One output row of one image for channel block cb: the interleaved
// columns first (V: [Wp][groups][4] vectors), then each output.
template <int ACT, int KW, int GG>
COMPRESS_VNNI void dw_row(const ConvDwInt8& c, const uint8_t* x, bool x_s8, int64_t H, int64_t W, int64_t oh,
                          int64_t cb, __m512i* V, uint8_t* y, int64_t OW) {
  // KW, GG: the kernel's width and row groups when known at compile time (0: not).
  const int64_t C = c.channels, G = GG ? GG : c.groups, Wp = W + c.pad_l + c.pad_r, kw = KW ? KW : c.kw;
  const int64_t valid = std::min<int64_t>(64, C - 64 * cb);
  const __mmask64 keep = valid >= 64 ? ~__mmask64(0) : ((__mmask64(1) << valid) - 1);
  // Code 0 outside the image: byte 0, or 0x80 for int8 codes read flipped.
  const __m512i flip = _mm512_set1_epi8(x_s8 ? static_cast<char>(0x80) : 0);
  const int64_t ih0 = oh * c.stride_h - c.pad_t;
  for (int64_t col = 0; col < Wp; ++col) {
    const int64_t iw = col - c.pad_l;
    for (int64_t g = 0; g < G; ++g) {
      __m512i r[4];
      for (int k = 0; k < 4; ++k) {
        const int64_t a = 4 * g + k, ih = ih0 + a;
        if (a < c.kh && ih >= 0 && ih < H && iw >= 0 && iw < W)
          r[k] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(keep, x + ((ih * W + iw) * C + 64 * cb)), flip);
        else
          r[k] = flip;  // padding (or a row past the kernel, whose weights are 0)
      }
      const __m512i ab_lo = _mm512_unpacklo_epi8(r[0], r[1]), ab_hi = _mm512_unpackhi_epi8(r[0], r[1]);
      const __m512i cd_lo = _mm512_unpacklo_epi8(r[2], r[3]), cd_hi = _mm512_unpackhi_epi8(r[2], r[3]);
      __m512i* v = V + (col * G + g) * 4;
      v[0] = _mm512_unpacklo_epi16(ab_lo, cd_lo);
      v[1] = _mm512_unpackhi_epi16(ab_lo, cd_lo);
      v[2] = _mm512_unpacklo_epi16(ab_hi, cd_hi);
      v[3] = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    }
  }
  const Epi e{c.bias64.data(), c.scale64.data(), &c.rq.post, c.rq.act_alpha, c.rq.out_mul, c.rq.out, 64 * c.blocks};
  const __m512i* w0 = reinterpret_cast<const __m512i*>(c.packed.data()) + cb * kw * G * 4;
  __m512i start[4];
  for (int q = 0; q < 4; ++q)
    start[q] = x_s8 ? _mm512_loadu_si512(c.comp.data() + 64 * cb + 16 * q) : _mm512_setzero_si512();
  const bool u8 = c.rq.out == 1;
  const __m512 lo = _mm512_set1_ps(u8 ? 0.f : -128.f), hi = _mm512_set1_ps(u8 ? 255.f : 127.f);
  for (int64_t ow = 0; ow < OW; ++ow) {
    __m512i acc[4] = {start[0], start[1], start[2], start[3]};
    const __m512i* v = V + ow * c.stride_w * G * 4;
    const __m512i* w = w0;
    for (int64_t b = 0; b < kw; ++b)
      for (int64_t g = 0; g < G; ++g, v += 4, w += 4)
        for (int q = 0; q < 4; ++q) acc[q] = dpbusd(acc[q], _mm512_load_si512(v + q), _mm512_loadu_si512(w + q));
    __m512i o[4];
    for (int q = 0; q < 4; ++q)
      o[q] = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(epilogue16<ACT>(e, 64 * cb + 16 * q, acc[q]), lo), hi));
    // packs keep each 128-bit lane's channels in order (see the header).
    const __m512i p01 = _mm512_packs_epi32(o[0], o[1]), p23 = _mm512_packs_epi32(o[2], o[3]);
    const __m512i r = u8 ? _mm512_packus_epi16(p01, p23) : _mm512_packs_epi16(p01, p23);
    _mm512_mask_storeu_epi8(y + ow * C + 64 * cb, keep, r);
  }
}

template <int ACT, int KW, int GG>
void dw_rows(const ConvDwInt8& c, const uint8_t* x, bool x_s8, int64_t H, int64_t W, int64_t r0, int64_t r1,
             uint8_t* y) {
  const int64_t OH = c.out_h(H), OW = c.out_w(W), Wp = W + c.pad_l + c.pad_r;
  // Kept per thread, so a run allocates nothing once warm.
  thread_local std::vector<uint8_t> raw;
  raw.resize(static_cast<size_t>(Wp * c.groups * 4 * 64 + 64));
  auto* V = reinterpret_cast<__m512i*>((reinterpret_cast<uintptr_t>(raw.data()) + 63) / 64 * 64);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / OH, oh = r % OH;
    for (int64_t cb = 0; cb < c.blocks; ++cb)
      dw_row<ACT, KW, GG>(c, x + n * H * W * c.channels, x_s8, H, W, oh, cb, V, y + r * OW * c.channels, OW);
  }
}

}  // namespace

void ConvDwInt8::run(const uint8_t* x, bool x_s8, int64_t N, int64_t H, int64_t W, void* y) const {
  auto* yb = static_cast<uint8_t*>(y);
  const int64_t rows = N * out_h(H);
  // 3x3 and 5x5 unrolled (their weights held in registers across a row).
  auto shape = [&](auto act, int64_t r0, int64_t r1) {
    constexpr int A = decltype(act)::value;
    if (kw == 3 && groups == 1) return dw_rows<A, 3, 1>(*this, x, x_s8, H, W, r0, r1, yb);
    if (kw == 5 && groups == 2) return dw_rows<A, 5, 2>(*this, x, x_s8, H, W, r0, r1, yb);
    return dw_rows<A, 0, 0>(*this, x, x_s8, H, W, r0, r1, yb);
  };
  parallel_ranges(
      rows,
      [&](int64_t r0, int64_t r1) {
        switch (rq.form) {
          case kNone:
            return shape(std::integral_constant<int, kNone>(), r0, r1);
          case kRelu:
            return shape(std::integral_constant<int, kRelu>(), r0, r1);
          case kLeaky:
            return shape(std::integral_constant<int, kLeaky>(), r0, r1);
          case kHardSwish:
            return shape(std::integral_constant<int, kHardSwish>(), r0, r1);
          default:
            return shape(std::integral_constant<int, kGeneric>(), r0, r1);
        }
      },
      1, out_w(W) * channels);
}

}  // namespace compress::runtime
