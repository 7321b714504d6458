// The runtime's AVX-512 elementwise passes (compress/runtime/simd_int8.h)
// against a naive scalar reference written from ONNX's definitions:
// DequantizeLinear s * (q - zp), the Add / Mul, QuantizeLinear
// saturate(round_half_even(x / s)), and the byte -> float table lookup.
// Every input type (int8 codes, uint8 codes, floats), both output grids,
// lengths that leave every tail (1 to 70), exact x.5 ties and values beyond
// the grid. The codes must be identical: the
// runtime's int8 tensors are checked code for code against the simulation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compress/runtime/simd_int8.h"

namespace compress::runtime {
namespace {

// ONNX QuantizeLinear, one element: std::nearbyint rounds half to even in the
// default rounding mode.
int32_t q_ref(float x, float s, bool s8) {
  const float lo = s8 ? -128.f : 0.f, hi = s8 ? 127.f : 255.f;
  const float v = std::nearbyint(x / s);
  return static_cast<int32_t>(std::min(hi, std::max(lo, v)));
}

// One operand of n elements of the given type: codes spread over the whole
// byte range, or floats that land on x.5 ties of the output grid (scale 0.25),
// well past both ends of it, and in between.
struct Data {
  std::vector<int8_t> s8;
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  Operand op;
  float at(int64_t k) const {
    switch (op.type) {
      case DType::s8:
        return op.scale * static_cast<float>(static_cast<int32_t>(s8[k]) - op.zp);
      case DType::u8:
        return op.scale * static_cast<float>(static_cast<int32_t>(u8[k]) - op.zp);
      default:
        return f32[k];
    }
  }
};

Data make(DType t, int64_t n, std::mt19937& rng) {
  Data d;
  d.op.type = t;
  std::uniform_int_distribution<int> byte(0, 255);
  if (t == DType::s8) {
    for (int64_t k = 0; k < n; ++k) d.s8.push_back(static_cast<int8_t>(byte(rng) - 128));
    d.op = {d.s8.data(), t, 0.0625f, 3};
  } else if (t == DType::u8) {
    for (int64_t k = 0; k < n; ++k) d.u8.push_back(static_cast<uint8_t>(byte(rng)));
    d.op = {d.u8.data(), t, 0.125f, 128};
  } else {
    std::uniform_real_distribution<float> u(-80.f, 80.f);
    for (int64_t k = 0; k < n; ++k) {
      // Every third a tie at scale 0.25 (k + 0.5 steps), the rest anywhere.
      const float v = k % 3 == 0 ? (std::floor(u(rng)) + 0.5f) * 0.25f * (k % 2 ? 1 : 8) : u(rng);
      d.f32.push_back(v);
    }
    d.op = {d.f32.data(), t, 1.f, 0};
  }
  return d;
}

class RuntimeSimd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!simd::avx512()) GTEST_SKIP() << "this CPU has no AVX-512 BW/VL: the runtime runs its portable loops";
  }
};

TEST_F(RuntimeSimd, QuantizeGivesOnnxCodesWithTiesToEvenAndSaturation) {
  std::mt19937 rng(1);
  int64_t ties = 0, saturated = 0;
  for (int64_t n = 1; n <= 70; ++n) {
    const Data x = make(DType::f32, n, rng);
    for (bool s8 : {true, false}) {
      std::vector<uint8_t> y(n + 16, 0xAB);  // the bytes past n must stay untouched
      simd::quantize(x.f32.data(), y.data(), s8, n, 0.25f);
      for (int64_t k = 0; k < n; ++k) {
        const int32_t want = q_ref(x.f32[k], 0.25f, s8);
        const int32_t got = s8 ? static_cast<int8_t>(y[k]) : y[k];
        ASSERT_EQ(got, want) << "n " << n << " k " << k << " x " << x.f32[k] << (s8 ? " int8" : " uint8");
        ties += std::fabs(x.f32[k] / 0.25f - std::trunc(x.f32[k] / 0.25f)) == 0.5f;
        saturated += std::fabs(x.f32[k] / 0.25f) > 128;
      }
      for (int64_t k = n; k < n + 16; ++k) ASSERT_EQ(y[k], 0xAB) << "wrote past the end: n " << n;
    }
  }
  // The data did exercise what the test is about.
  EXPECT_GT(ties, 500);
  EXPECT_GT(saturated, 500);
}

TEST_F(RuntimeSimd, BinaryOpsOnCodesAndFloatsGiveTheNodesCodes) {
  std::mt19937 rng(2);
  const DType types[] = {DType::s8, DType::u8, DType::f32};
  for (DType ta : types)
    for (DType tb : types)
      for (int64_t n : {1, 15, 16, 17, 64, 70}) {
        const Data a = make(ta, n, rng), b = make(tb, n, rng);
        for (bool add : {true, false}) {
          for (bool s8 : {true, false}) {
            const float s = add ? 0.5f : 3.f;
            std::vector<uint8_t> y(n);
            simd::binary(add, a.op, b.op, y.data(), s8, n, s);
            for (int64_t k = 0; k < n; ++k) {
              const float v = add ? a.at(k) + b.at(k) : a.at(k) * b.at(k);
              ASSERT_EQ(s8 ? static_cast<int8_t>(y[k]) : y[k], q_ref(v, s, s8))
                  << dtype_name(ta) << (add ? " + " : " * ") << dtype_name(tb) << " n " << n << " k " << k;
            }
          }
          std::vector<float> f(n);
          simd::binary_float(add, a.op, b.op, f.data(), n);
          for (int64_t k = 0; k < n; ++k)
            ASSERT_EQ(f[k], add ? a.at(k) + b.at(k) : a.at(k) * b.at(k)) << dtype_name(ta) << " " << dtype_name(tb);
        }
      }
}

TEST_F(RuntimeSimd, SeGateScalesEachChannelOfEveryPixel) {
  // P pixels x C channels, NHWC: under 16 channels a pixel at a time, from 16
  // on one flat run whose gate wraps round mid-vector (17, 72, 120).
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> gate(0.f, 1.f);
  for (DType t : {DType::s8, DType::u8, DType::f32})
    for (int64_t C : {1, 15, 16, 17, 72, 120}) {
      const int64_t P = 5;
      const Data x = make(t, P * C, rng);
      std::vector<float> g(C);
      for (auto& v : g) v = gate(rng);
      for (bool s8 : {true, false}) {
        std::vector<uint8_t> y(P * C);
        simd::per_channel_mul(x.op, g.data(), true, y.data(), s8, P, C, 0.1f);
        for (int64_t p = 0; p < P; ++p)
          for (int64_t c = 0; c < C; ++c) {
            const int64_t k = p * C + c;
            ASSERT_EQ(s8 ? static_cast<int8_t>(y[k]) : y[k], q_ref(x.at(k) * g[c], 0.1f, s8))
                << dtype_name(t) << " C " << C << " pixel " << p << " channel " << c;
          }
      }
    }
}

TEST_F(RuntimeSimd, FloatTableLookupReadsEveryEntryOfTheTable) {
  // The int8 h-swish's float output: table[x] for every byte (each of the
  // eight 32-entry pairs and every top-bit choice), and every tail length.
  std::vector<float> table(256);
  for (int v = 0; v < 256; ++v) table[v] = 0.37f * static_cast<float>(v) - 10.f + (v % 7 == 0 ? 1e-3f : 0.f);
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t n : {1, 15, 16, 17, 70, 256, 1000}) {
    std::vector<uint8_t> x(n);
    for (int64_t k = 0; k < n; ++k) x[k] = n == 256 ? static_cast<uint8_t>(k) : static_cast<uint8_t>(byte(rng));
    std::vector<float> y(n + 16, -7.f);
    simd::lookup_float(x.data(), y.data(), n, table.data());
    for (int64_t k = 0; k < n; ++k) ASSERT_EQ(y[k], table[x[k]]) << "n " << n << " byte " << int(x[k]);
    for (int64_t k = n; k < n + 16; ++k) ASSERT_EQ(y[k], -7.f) << "wrote past the end: n " << n;
  }
}

// simd::channel_sums of an NHWC P x C operand over channels [c0, C): each
// channel 0 + v(0, c) + v(1, c) + ... in pixel order, bit for bit (a float
// sum in another order differs in its last bits), and nothing written
// outside [c0, C). value(k) is element k's float.
template <class V>
void expect_channel_sums(const Operand& x, int64_t P, int64_t C, int64_t c0, V value, const std::string& what) {
  std::vector<float> r(C + 16, -7.f);
  simd::channel_sums(x, r.data(), P, C, c0, C);
  for (int64_t c = 0; c < C + 16; ++c) {
    if (c < c0 || c >= C) {
      ASSERT_EQ(r[c], -7.f) << what << ": wrote outside [c0, c1): C " << C << " c " << c;
      continue;
    }
    float want = 0.f;
    for (int64_t p = 0; p < P; ++p) want += value(p * C + c);
    ASSERT_EQ(r[c], want) << what << " C " << C << " channel " << c;
  }
}

TEST_F(RuntimeSimd, ChannelSumsAddEachChannelsPixelsInOrder) {
  // A GlobalAveragePool's sums over NHWC codes or floats, from channel 0 or 16.
  std::mt19937 rng(8);
  for (DType t : {DType::s8, DType::u8, DType::f32})
    for (int64_t C : {1, 15, 16, 17, 64, 72, 130}) {
      const int64_t P = 37;
      const Data x = make(t, P * C, rng);
      for (int64_t c0 : {int64_t{0}, C > 16 ? int64_t{16} : int64_t{0}})
        expect_channel_sums(
            x.op, P, C, c0, [&](int64_t k) { return x.at(k); }, dtype_name(t));
    }
}

// An int8 h-swish read from its codes (value.h, HardSwishOnCodes): a table
// with every byte's entry different and both top-bit halves in use.
HardSwishOnCodes hswish_table() {
  HardSwishOnCodes h;
  for (int v = 0; v < 256; ++v) h.hsig[v] = static_cast<uint8_t>((v * 37 + 11) & 255);
  h.hsig_scale = 1.f / 255;
  return h;
}

TEST_F(RuntimeSimd, HardSwishOfCodesGivesTheNodesFloatsSumsAndCodes) {
  // Each kernel that reads an h-swish from its codes against the scalar
  // HardSwishOnCodes::apply of the dequantized code: the floats, the
  // GlobalAveragePool's pixel-order sums, the residual Add / SE Mul -> codes
  // with the h-swish as either operand, every 64-lane tail, bit for bit.
  if (!simd::avx512_vbmi()) GTEST_SKIP() << "this CPU has no AVX-512 VBMI: h-swish floats are written out";
  const HardSwishOnCodes h = hswish_table();
  std::mt19937 rng(7);
  auto ref = [&](const Data& x, int64_t k) {
    const uint8_t byte = x.op.type == DType::s8 ? static_cast<uint8_t>(x.s8[k]) : x.u8[k];
    return h.apply(byte, x.at(k));
  };
  for (DType t : {DType::s8, DType::u8})
    for (int64_t n : {1, 15, 16, 17, 63, 64, 65, 130, 1000}) {
      Data x = make(t, n, rng);
      x.op.hswish = &h;
      std::vector<float> f(n + 16, -7.f);
      simd::hswish_floats(x.op, f.data(), n);
      for (int64_t k = 0; k < n; ++k) ASSERT_EQ(f[k], ref(x, k)) << dtype_name(t) << " n " << n << " k " << k;
      for (int64_t k = n; k < n + 16; ++k) ASSERT_EQ(f[k], -7.f) << "wrote past the end: n " << n;
      for (DType tb : {DType::s8, DType::u8, DType::f32}) {
        const Data b = make(tb, n, rng);
        for (bool add : {true, false})
          for (bool s8 : {true, false})
            for (bool first : {true, false}) {
              const float s = add ? 0.5f : 3.f;
              std::vector<uint8_t> y(n + 16, 0xAB);
              simd::binary(add, first ? x.op : b.op, first ? b.op : x.op, y.data(), s8, n, s);
              for (int64_t k = 0; k < n; ++k) {
                const float u = first ? ref(x, k) : b.at(k), w = first ? b.at(k) : ref(x, k);
                ASSERT_EQ(s8 ? static_cast<int8_t>(y[k]) : y[k], q_ref(add ? u + w : u * w, s, s8))
                    << dtype_name(t) << (add ? " + " : " * ") << dtype_name(tb) << " n " << n << " k " << k;
              }
              for (int64_t k = n; k < n + 16; ++k) ASSERT_EQ(y[k], 0xAB) << "wrote past the end: n " << n;
            }
      }
    }
  // NHWC P x C: the SE gate per channel, and the channel sums over [c0, C).
  std::uniform_real_distribution<float> gate(0.f, 1.f);
  for (DType t : {DType::s8, DType::u8})
    for (int64_t C : {1, 15, 16, 17, 64, 72, 130}) {
      const int64_t P = 9;
      Data x = make(t, P * C, rng);
      x.op.hswish = &h;
      std::vector<float> g(C);
      for (auto& v : g) v = gate(rng);
      for (bool s8 : {true, false}) {
        std::vector<uint8_t> y(P * C);
        simd::per_channel_mul(x.op, g.data(), true, y.data(), s8, P, C, 0.1f);
        for (int64_t k = 0; k < P * C; ++k)
          ASSERT_EQ(s8 ? static_cast<int8_t>(y[k]) : y[k], q_ref(ref(x, k) * g[k % C], 0.1f, s8))
              << dtype_name(t) << " C " << C << " k " << k;
      }
      expect_channel_sums(
          x.op, P, C, C > 16 ? 16 : 0, [&](int64_t k) { return ref(x, k); },
          std::string("h-swish of ") + dtype_name(t));
    }
}

TEST_F(RuntimeSimd, ThreePlanesBecomePixelsInOrder) {
  // An image's codes NCHW -> NHWC: dst[3 p + c] = src[c P + p] for every
  // pixel count around the 64-pixel step (the scalar tail included), and
  // nothing written past 3 P.
  if (!simd::avx512_vbmi()) GTEST_SKIP() << "this CPU has no AVX-512 VBMI";
  std::mt19937 rng(6);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t P : {1, 63, 64, 65, 128, 200, 4113}) {
    std::vector<uint8_t> src(3 * P), dst(3 * P + 64, 0xAB);
    for (auto& b : src) b = static_cast<uint8_t>(byte(rng));
    simd::planes3_to_pixels(src.data(), dst.data(), P);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < 3; ++c)
        ASSERT_EQ(dst[3 * p + c], src[c * P + p]) << "P " << P << " pixel " << p << " channel " << c;
    for (int64_t k = 3 * P; k < 3 * P + 64; ++k) ASSERT_EQ(dst[k], 0xAB) << "wrote past the end: P " << P;
  }
}

}  // namespace
}  // namespace compress::runtime
