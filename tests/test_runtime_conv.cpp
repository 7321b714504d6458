// One oneDNN conv of the runtime (compress/runtime/conv.h) on its own: the
// spec's weights released once a primitive holds them and restored exactly
// for a new input shape, and the one-thread / all-threads trial that picks a
// primitive per conv, which must never change a result. Each output is
// compared code for code with a fresh kernel's (and, for one case, with a
// naive int8 conv written here from ONNX's definitions).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "compress/runtime/conv.h"
#include "compress/runtime/conv_1x1_int8.h"
#include "compress/runtime/value.h"

namespace compress::runtime {
namespace {

// An int8 conv with per-channel weight scales, a bias and a ReLU, writing
// uint8 codes; or the same shapes in float.
ConvSpec make_spec(bool int8, int64_t in_c, int64_t out_c, int64_t k, int64_t groups, std::mt19937& rng) {
  ConvSpec s;
  s.name = "test.conv";
  s.in_channels = in_c;
  s.out_channels = out_c;
  s.kh = s.kw = k;
  s.groups = groups;
  s.pads = {k / 2, k / 2, k / 2, k / 2};
  s.int8 = int8;
  const int64_t n = out_c * (in_c / groups) * k * k;
  std::uniform_int_distribution<int> w(-127, 127);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < n; ++i) {
    if (int8)
      s.weight_s8.push_back(static_cast<int8_t>(w(rng)));
    else
      s.weight_f32.push_back(u(rng));
  }
  for (int64_t c = 0; c < out_c; ++c) {
    s.bias.push_back(u(rng));
    if (int8) s.weight_scale.push_back(0.002f + 0.001f * static_cast<float>(c % 5));
  }
  s.post.push_back({PostOp::relu});
  if (int8) {
    s.in_scale = 0.05f;
    s.quantize_output = true;
    s.out_scale = 0.04f;
  }
  return s;
}

ValuePtr make_input(bool int8, int64_t c, int64_t h, int64_t w, std::mt19937& rng) {
  auto x = make_value(int8 ? DType::u8 : DType::f32, {1, c, h, w}, true);
  if (int8) {
    x->quantized = true;
    x->scale = 0.05f;
    std::uniform_int_distribution<int> b(0, 255);
    for (int64_t i = 0; i < x->numel(); ++i) x->data<uint8_t>()[i] = static_cast<uint8_t>(b(rng));
  } else {
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (int64_t i = 0; i < x->numel(); ++i) x->data<float>()[i] = u(rng);
  }
  return x;
}

bool same_bytes(const Value& a, const Value& b) {
  return a.dims == b.dims && a.type == b.type && a.bytes() == b.bytes() &&
         std::memcmp(a.buf->data(), b.buf->data(), a.bytes()) == 0;
}

// The int32 sum of codes x int8 weights for output channel c at (oh, ow):
// NHWC input, pads k / 2, stride 1; the input's bytes read as int8 codes when x_s8.
int32_t naive_acc(const ConvSpec& s, const Value& x, int64_t c, int64_t oh, int64_t ow, bool x_s8 = false) {
  const int64_t H = x.dims[2], W = x.dims[3], C = x.dims[1], k = s.kh;
  int32_t acc = 0;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = 0; b < k; ++b) {
        const int64_t ih = oh + a - k / 2, iw = ow + b - k / 2;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        const uint8_t v = x.data<uint8_t>()[(ih * W + iw) * C + i];
        acc += (x_s8 ? static_cast<int32_t>(static_cast<int8_t>(v)) : static_cast<int32_t>(v)) *
               static_cast<int32_t>(s.weight_s8[((c * C + i) * k + a) * k + b]);
      }
  return acc;
}

// ONNX's int8 conv, one output code: naive_acc times s_x * s_w[c], plus the
// bias, ReLU, divided by s_y, rounded half to even, saturated to uint8.
int naive_code(const ConvSpec& s, const Value& x, int64_t c, int64_t oh, int64_t ow) {
  const int32_t acc = naive_acc(s, x, c, oh, ow);
  const double v = std::max(0.0, static_cast<double>(acc) * s.in_scale * s.weight_scale[c] + s.bias[c]);
  return static_cast<int>(std::min(255.0, std::nearbyint(v / s.out_scale)));
}

// x's bytes read as int8 storage of zero-point-128 codes (the stored byte is
// the value / s), and the spec's input DequantizeLinear to match.
void read_as_int8(ConvSpec& s, Value& x) {
  s.in_zp = 128;
  x.type = DType::s8;
  x.zp = 128;
}

// The same spec run by oneDNN's primitive and by the runtime's own loop,
// the environment variable `env` (read when a kernel is made) set to 0 for
// the first and all for the second: {oneDNN's output, the loop's}.
std::pair<ValuePtr, ValuePtr> onednn_and_own(const ConvSpec& s, const ValuePtr& x, const char* env,
                                             const std::string& what) {
  setenv(env, "0", 1);
  ConvKernel onednn(s);
  setenv(env, "all", 1);
  ConvKernel own(s);
  unsetenv(env);
  auto want = onednn.run(x);
  auto got = own.run(x);
  EXPECT_EQ(onednn.own_runs(), 0) << what;
  EXPECT_EQ(own.own_runs(), 1) << what;
  return {want, got};
}

}  // namespace

TEST(RuntimeConv, ReleasesItsWeightCopyAndRestoresItExactlyForANewShape) {
  // The kernel runs 12x12, then 9x7 (a new primitive, built from weights read
  // back out of the first one), then 12x12 again; every output must equal a
  // fresh kernel's, int8 and float, dense, 1x1 and depthwise.
  std::mt19937 rng(3);
  struct Case {
    bool int8;
    int64_t in_c, out_c, k, groups;
  };
  for (const Case& c : {Case{true, 24, 40, 3, 1}, Case{true, 32, 64, 1, 1}, Case{true, 48, 48, 5, 48},
                        Case{false, 24, 40, 3, 1}, Case{false, 48, 48, 3, 48}}) {
    const ConvSpec spec = make_spec(c.int8, c.in_c, c.out_c, c.k, c.groups, rng);
    ConvKernel kept(spec);
    const auto a = make_input(c.int8, c.in_c, 12, 12, rng);
    const auto b = make_input(c.int8, c.in_c, 9, 7, rng);
    const auto ya = kept.run(a);
    const auto yb = kept.run(b);
    const auto ya2 = kept.run(a);
    ConvKernel fresh_a(spec), fresh_b(spec);
    const std::string what = std::string(c.int8 ? "int8 " : "f32 ") + spec.describe();
    EXPECT_TRUE(same_bytes(*ya, *fresh_a.run(a))) << what;
    EXPECT_TRUE(same_bytes(*yb, *fresh_b.run(b))) << what;
    EXPECT_TRUE(same_bytes(*ya2, *ya)) << what;
  }
  // And the restored weights are the spec's: the second shape's codes
  // against the naive conv (ReLU'd uint8; a tie at .5 of the grid could
  // round either way in float, so at most a few differ by one).
  const ConvSpec spec = make_spec(true, 16, 24, 3, 1, rng);
  ConvKernel k(spec);
  k.run(make_input(true, 16, 10, 10, rng));
  const auto x = make_input(true, 16, 6, 5, rng);
  const auto y = k.run(x);
  int64_t off_by_one = 0;
  for (int64_t oh = 0; oh < 6; ++oh)
    for (int64_t ow = 0; ow < 5; ++ow)
      for (int64_t c = 0; c < 24; ++c) {
        const int got = y->data<uint8_t>()[(oh * 5 + ow) * 24 + c];
        const int want = naive_code(spec, *x, c, oh, ow);
        ASSERT_LE(std::abs(got - want), 1) << "at " << oh << "," << ow << " channel " << c;
        off_by_one += got != want;
      }
  EXPECT_LE(off_by_one, 2);
}

TEST(RuntimeConv, ThreadTrialNeverChangesAResult) {
  // On 2 threads a conv above the one-thread size runs its first runs
  // alternating between two primitives (all threads / one), then keeps one:
  // 14 runs span the trial and after it. Every output must be the same
  // bits, and equal to a kernel made and run on one thread.
  std::mt19937 rng(5);
  const ConvSpec spec = make_spec(true, 64, 128, 3, 1, rng);  // 64 x 128 x 9 x 40 x 40: 118M MACs
  const auto x = make_input(true, 64, 40, 40, rng);
  set_threads(1);
  ConvKernel solo(spec);
  const auto want = solo.run(x);
  set_threads(2);
  ConvKernel k(spec);
  for (int r = 0; r < 14; ++r) EXPECT_TRUE(same_bytes(*k.run(x), *want)) << "run " << r;
  set_threads(1);
}

TEST(RuntimeConv, EachActivationBeforeTheRoundingWritesItsOwnCodes) {
  // Conv -> activation -> QuantizeLinear as one int8 conv (what
  // quant.round_after_activation exports), for every activation the runtime
  // folds, 1x1 (brgemm) and 3x3, against the naive conv with the activation
  // in double: h-swish and leaky ReLU on the signed grid, the rest unsigned.
  // oneDNN 2.6's brgemm kernels apply the first eltwise_linear's parameters
  // to every eltwise_linear of a chain, which made every hard-sigmoid code
  // wrong before the rounding was folded into the hard-sigmoid's own linear.
  // Without VNNI, oneDNN's u8 x s8 kernels sum pairs of products into
  // saturating int16, so codes may rightly differ from the naive conv's
  // (docs/runtime.md); the runtime's targets have VNNI.
  if (!__builtin_cpu_supports("avx512vnni") && !__builtin_cpu_supports("avxvnni"))
    GTEST_SKIP() << "this CPU has no VNNI";
  std::mt19937 rng(5);
  struct Act {
    PostOp op;
    bool is_signed;
    double (*f)(double);
  };
  const Act acts[] = {
      {{PostOp::relu, 0, 0}, false, [](double v) { return std::max(0.0, v); }},
      {{PostOp::clip, 0, 6}, false, [](double v) { return std::min(6.0, std::max(0.0, v)); }},
      {{PostOp::leaky_relu, 0.1f, 0}, true, [](double v) { return v < 0 ? 0.1 * v : v; }},
      {{PostOp::hard_sigmoid, 1.f / 6, 0.5f},
       false,
       [](double v) { return std::min(1.0, std::max(0.0, v / 6 + 0.5)); }},
      {{PostOp::hard_swish, 0, 0}, true, [](double v) { return v * std::min(6.0, std::max(0.0, v + 3)) / 6; }},
  };
  struct Shape {
    int64_t k, h, w;
  };
  // 1x1 and 3x3 over a 5x6 map (oneDNN), and 1x1 over a 1x1 map (an SE conv:
  // the runtime's own loop, conv_1x1_int8.h), with both input grids there.
  for (const Shape sh : {Shape{1, 5, 6}, Shape{3, 5, 6}, Shape{1, 1, 1}})
    for (const bool x_s8 : {false, true})
      for (const Act& a : acts) {
        if (x_s8 && sh.h > 1) continue;
        const int64_t k = sh.k, H = sh.h, W = sh.w, C = sh.h > 1 ? 32 : 200, O = sh.h > 1 ? 48 : 72;
        ConvSpec s = make_spec(true, C, O, k, 1, rng);
        s.post = {a.op};
        s.out_scale = a.op.kind == PostOp::hard_sigmoid ? 1.f / 255 : 0.03f;
        s.out_zp = a.is_signed ? 128 : 0;
        auto x = make_input(true, C, H, W, rng);
        if (x_s8) read_as_int8(s, *x);
        ConvKernel kernel(s);
        const auto y = kernel.run(x);
        ASSERT_EQ(y->type, a.is_signed ? DType::s8 : DType::u8);
        EXPECT_EQ(kernel.own_runs(), H == 1 ? 1 : 0);
        int64_t off = 0, worst = 0, nonzero = 0;
        for (int64_t p = 0; p < H * W; ++p)
          for (int64_t c = 0; c < O; ++c) {
            const int32_t acc = naive_acc(s, *x, c, p / W, p % W, x_s8);
            const double val = a.f(static_cast<double>(acc) * s.in_scale * s.weight_scale[c] + s.bias[c]);
            const double lo = a.is_signed ? -128 : 0, hi = a.is_signed ? 127 : 255;
            const int64_t want = static_cast<int64_t>(std::min(hi, std::max(lo, std::nearbyint(val / s.out_scale))));
            const int64_t got = a.is_signed ? y->data<int8_t>()[p * O + c] : y->data<uint8_t>()[p * O + c];
            off += got != want;
            worst = std::max<int64_t>(worst, std::abs(got - want));
            nonzero += want != 0;
          }
        const std::string what = std::to_string(k) + "x" + std::to_string(k) + " over " + std::to_string(H) + "x" +
                                 std::to_string(W) + (x_s8 ? " int8 input " : " ") + s.describe();
        EXPECT_LE(worst, 1) << what;  // a tie at .5 of the grid may round either way in float
        EXPECT_LE(off, 3) << what;
        EXPECT_GT(nonzero, H * W * O / 5) << what;  // the codes say something
      }
  // A chain that would need two linear post-ops (a hard-sigmoid that is not
  // the last activation of a conv writing codes) is refused, naming the conv.
  ConvSpec two = make_spec(true, 32, 48, 1, 1, rng);
  two.name = "head.gate";
  two.post = {{PostOp::hard_sigmoid, 1.f / 6, 0.5f}, {PostOp::relu, 0, 0}};
  ConvKernel refused(two);
  try {
    refused.run(make_input(true, 32, 5, 6, rng));
    ADD_FAILURE() << "a chain with two linear post-ops ran";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("head.gate"), std::string::npos) << e.what();
  }
}

TEST(RuntimeConv, CodesAreTheSumTimesOneMultiplierPerChannel) {
  // An int8 conv writing codes with no activation or a ReLU requantizes as
  // ONNX Runtime's QLinearConv does: (sum + bias) * (s_x * s_w[c] / s_y),
  // rounded half to even and saturated; a ReLU before uint8 codes is the
  // saturation at 0. Every code of oneDNN's 1x1 and depthwise convs and of
  // the runtime's own loops against that, in float as written here. The
  // data must also tell it from the three-step form (times s_x * s_w[c],
  // ReLU, times 1 / s_y), which rounds differently near half-integers.
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU has no VNNI";
  std::mt19937 rng(11);
  struct Case {
    int64_t C, O, k, groups, H;
    float out_scale;
  };
  // 8 -> 64 over 128x128 gives many outputs cheaply: the forms differ on
  // about 1 in 10^5 unsaturated codes.
  int64_t checked = 0, forms_differ = 0;
  for (const Case cs : {Case{8, 64, 1, 1, 128, 0.0437f}, Case{64, 64, 3, 64, 48, 0.0437f},
                        Case{128, 128, 3, 128, 32, 0.0437f}, Case{72, 72, 1, 1, 3, 0.2371f}})
    for (const int act : {0, 1, 2}) {  // none -> int8, ReLU -> uint8, ReLU -> int8
      ConvSpec s = make_spec(true, cs.C, cs.O, cs.k, cs.groups, rng);
      s.post.clear();
      if (act > 0) s.post.push_back({PostOp::relu});
      s.out_zp = act == 1 ? 0 : 128;
      s.out_scale = cs.out_scale;
      const auto x = make_input(true, cs.C, cs.H, cs.H, rng);
      for (const char* mode : {"0", "all"}) {
        setenv("COMPRESS_OWN_1X1", mode, 1);
        setenv("COMPRESS_OWN_DW", mode, 1);
        ConvKernel kernel(s);
        unsetenv("COMPRESS_OWN_1X1");
        unsetenv("COMPRESS_OWN_DW");
        const auto y = kernel.run(x);
        const int64_t HW = cs.H * cs.H;
        for (int64_t p = 0; p < HW; ++p)
          for (int64_t c = 0; c < cs.O; ++c) {
            int32_t acc = 0;
            if (cs.groups == 1) {
              acc = naive_acc(s, *x, c, p / cs.H, p % cs.H);
            } else {  // depthwise: channel c's own k x k taps
              for (int64_t a = 0; a < cs.k; ++a)
                for (int64_t b = 0; b < cs.k; ++b) {
                  const int64_t ih = p / cs.H + a - cs.k / 2, iw = p % cs.H + b - cs.k / 2;
                  if (ih < 0 || ih >= cs.H || iw < 0 || iw >= cs.H) continue;
                  acc += static_cast<int32_t>(x->data<uint8_t>()[(ih * cs.H + iw) * cs.C + c]) *
                         s.weight_s8[(c * cs.k + a) * cs.k + b];
                }
            }
            const float sxw = s.in_scale * s.weight_scale[c];
            const float sum = static_cast<float>(acc) + s.bias[c] / sxw;
            const float lo = act == 1 ? 0.f : -128.f, hi = act == 1 ? 255.f : 127.f;
            auto code = [&](float v) {
              if (act == 2) v = std::max(v, 0.f);
              return static_cast<int>(std::nearbyint(std::min(hi, std::max(lo, v))));
            };
            const int want = code(sum * (sxw / s.out_scale));
            float chain = sum * sxw;
            if (act > 0) chain = std::max(chain, 0.f);
            forms_differ += code(chain * (1.f / s.out_scale)) != want;
            const int got = act == 1 ? y->data<uint8_t>()[p * cs.O + c] : y->data<int8_t>()[p * cs.O + c];
            ASSERT_EQ(got, want) << "C " << cs.C << " k " << cs.k << " act " << act << " own " << mode << " pixel " << p
                                 << " channel " << c;
            ++checked;
          }
      }
    }
  EXPECT_GT(checked, 5000000);
  EXPECT_GT(forms_differ, 0) << "the data cannot tell the two forms apart";
}

TEST(RuntimeConv, OwnOneByOneLoopWritesOneDnnsCodes) {
  // The runtime's own int8 1x1 loop (conv_1x1_int8.h) against oneDNN's
  // primitive for the same spec, code for code: every fixed epilogue (none,
  // ReLU, leaky ReLU, h-swish), the op-by-op one (clip, a folded
  // hard-sigmoid) and float outputs; both input grids; output channels in
  // 1 to 13 blocks of 16 with tails; input channels not a multiple of 4; and
  // more pixels than one 280-pixel chunk, with a tail of single pixels.
  // COMPRESS_OWN_1X1 is read when a kernel is made: 0 makes the oneDNN one,
  // all the loop's.
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "this CPU has no AVX512-VNNI";
  std::mt19937 rng(11);
  struct Case {
    int64_t C, O, H, W;
    bool x_s8;
    std::vector<PostOp> post;
    int out;  // 0 float, 1 uint8, 2 int8 codes
  };
  const std::vector<Case> cases = {
      {72, 24, 9, 10, false, {{PostOp::relu}}, 1},
      {16, 64, 13, 11, true, {}, 2},
      {18, 72, 5, 7, true, {{PostOp::hard_swish}}, 2},
      {40, 200, 3, 3, false, {{PostOp::leaky_relu, 0.1f, 0}}, 2},
      {120, 40, 17, 17, true, {{PostOp::clip, 0, 6}}, 1},
      {32, 48, 6, 6, false, {{PostOp::hard_sigmoid, 1.f / 6, 0.5f}}, 1},
      {64, 45, 4, 5, true, {}, 0},
      {64, 45, 4, 5, false, {{PostOp::relu}}, 0},
  };
  for (const Case& c : cases) {
    ConvSpec s = make_spec(true, c.C, c.O, 1, 1, rng);
    s.post = c.post;
    s.quantize_output = c.out != 0;
    s.out_zp = c.out == 2 ? 128 : 0;
    s.out_scale = c.post.size() == 1 && c.post[0].kind == PostOp::hard_sigmoid ? 1.f / 255 : 0.03f;
    auto x = make_input(true, c.C, c.H, c.W, rng);
    if (c.x_s8) read_as_int8(s, *x);
    const std::string what =
        std::to_string(c.H) + "x" + std::to_string(c.W) + (c.x_s8 ? " int8 input " : " ") + s.describe();
    const auto [want, got] = onednn_and_own(s, x, "COMPRESS_OWN_1X1", what);
    ASSERT_EQ(got->type, want->type) << what;
    const int64_t n = want->numel();
    int64_t differ = 0, nonzero = 0;
    double worst = 0;  // codes: steps; floats: relative
    for (int64_t i = 0; i < n; ++i) {
      double a, e;
      if (c.out == 0) {
        a = got->data<float>()[i];
        e = want->data<float>()[i];
        worst = std::max(worst, std::abs(a - e) / std::max(1e-6, std::abs(e)));
      } else {
        a = c.out == 2 ? got->data<int8_t>()[i] : got->data<uint8_t>()[i];
        e = c.out == 2 ? want->data<int8_t>()[i] : want->data<uint8_t>()[i];
        worst = std::max(worst, std::abs(a - e));
      }
      differ += a != e;
      nonzero += e != 0;
    }
    // The contract: identical on at least 99.99% (every output on
    // the Intel AMX machine this was written on; oneDNN's kernels for other
    // CPUs may round a tie the other way), the rest one step off.
    EXPECT_LE(differ * 10000, n) << what << ": " << differ << " of " << n << " outputs differ";
    EXPECT_LE(worst, c.out == 0 ? 1e-5 : 1.0) << what;
    EXPECT_GT(nonzero, n / 5) << what;  // the outputs say something
  }
}

TEST(RuntimeConv, OwnDepthwiseLoopWritesOneDnnsCodes) {
  // The runtime's own int8 depthwise loop (conv_dw_int8.h) against oneDNN's
  // primitive for the same spec, code for code: 3x3, 5x5 and 7x7 kernels
  // (one and two groups of 4 rows), strides 1 and 2, uneven padding,
  // channels in part of a block of 64 and past it, both input grids, two
  // images, non-square maps, and each epilogue: ReLU and clip to uint8, none
  // and leaky ReLU to int8. h-swish to int8 differs from oneDNN's depthwise
  // kernel by one step on a few codes here (its float rounding differs from
  // oneDNN's own 1x1 kernels').
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "this CPU has no AVX512-VNNI";
  std::mt19937 rng(17);
  struct Case {
    int64_t C, k, stride, H, W;
    std::vector<int64_t> pads;
    bool x_s8;
    PostOp post;
    int out;
  };
  const std::vector<Case> cases = {
      {16, 3, 1, 9, 11, {1, 1, 1, 1}, false, {PostOp::relu}, 1},
      {72, 3, 2, 12, 9, {1, 1, 1, 1}, true, {PostOp::leaky_relu, 0.1f, 0}, 2},
      {200, 5, 1, 7, 8, {2, 2, 2, 2}, false, {PostOp::clip, 0, 6}, 1},
      {64, 5, 2, 11, 13, {2, 2, 2, 2}, true, {PostOp::relu}, 1},
      {120, 7, 1, 10, 9, {3, 3, 3, 3}, true, {PostOp::leaky_relu, 0.2f, 0}, 2},
      {96, 3, 1, 6, 7, {0, 1, 2, 1}, false, {PostOp::relu}, 1},
      {130, 3, 1, 8, 8, {1, 1, 1, 1}, true, {PostOp::hard_swish}, 2},
      {72, 3, 1, 9, 10, {1, 1, 1, 1}, true, {PostOp::relu}, 1},
      {24, 5, 1, 8, 13, {2, 2, 2, 2}, false, {PostOp::leaky_relu, 0.1f, 0}, 2},
  };
  for (const Case& c : cases) {
    ConvSpec s = make_spec(true, c.C, c.C, c.k, c.C, rng);
    s.strides = {c.stride, c.stride};
    s.pads = c.pads;
    s.post = {c.post};
    s.out_zp = c.out == 2 ? 128 : 0;
    s.out_scale = 0.03f;
    for (auto& w : s.weight_scale) w *= 4;  // sums of 9-49 taps: a spread of codes
    auto x = make_value(DType::u8, {2, c.C, c.H, c.W}, true);
    x->quantized = true;
    x->scale = 0.05f;
    std::uniform_int_distribution<int> b(0, 255);
    for (int64_t i = 0; i < x->numel(); ++i) x->data<uint8_t>()[i] = static_cast<uint8_t>(b(rng));
    if (c.x_s8) read_as_int8(s, *x);
    const std::string what =
        std::to_string(c.H) + "x" + std::to_string(c.W) + (c.x_s8 ? " int8 input " : " ") + s.describe();
    const auto [want, got] = onednn_and_own(s, x, "COMPRESS_OWN_DW", what);
    ASSERT_EQ(got->dims, want->dims) << what;
    const int64_t n = want->numel();
    int64_t differ = 0, worst = 0, distinct = 0;
    std::vector<bool> seen(256, false);
    for (int64_t i = 0; i < n; ++i) {
      const int a = c.out == 2 ? got->data<int8_t>()[i] : got->data<uint8_t>()[i];
      const int e = c.out == 2 ? want->data<int8_t>()[i] : want->data<uint8_t>()[i];
      differ += a != e;
      worst = std::max(worst, static_cast<int64_t>(std::abs(a - e)));
      if (!seen[e & 255]) ++distinct;
      seen[e & 255] = true;
    }
    // Identical on at least 99.99% of codes, the rest one step off (every
    // code but h-swish's identical on the Intel AMX machine this was written
    // on; oneDNN's kernels for other CPUs may round a tie the other way).
    EXPECT_LE(worst, 1) << what;
    EXPECT_LE(differ * 10000, n) << what << ": " << differ << " of " << n << " codes differ";
    EXPECT_GT(distinct, 20) << what;  // the codes say something
  }
}

TEST(RuntimeConv, OwnOneByOneLoopsVectorAndScalarFormsAgree) {
  // Without AVX512-VNNI (or with a sigmoid after the conv) the loop runs
  // its scalar form; both must write the same bits. Here the scalar form is
  // the same conv never packed for VNNI.
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "this CPU has no AVX512-VNNI";
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> w(-127, 127), b(0, 255);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const std::vector<std::vector<Eltwise>> chains = {
      {{Eltwise::linear, 1 / 0.03f, 0}},
      {{Eltwise::relu, 0, 0}, {Eltwise::linear, 1 / 0.03f, 0}},
      {{Eltwise::relu, 0.1f, 0}, {Eltwise::linear, 1 / 0.03f, 0}},
      {{Eltwise::hard_swish, 0, 0}, {Eltwise::linear, 1 / 0.03f, 0}},
      {{Eltwise::linear, 1 / 0.6f, 0.5f / 0.01f}, {Eltwise::clip, 0, 100}},
  };
  for (size_t k = 0; k < chains.size(); ++k)
    for (const bool x_s8 : {false, true}) {
      Conv1x1Int8 v;
      v.in_channels = 36 + 2 * static_cast<int64_t>(k);  // 36, 38, ...: padded to groups of 4 where odd
      v.out_channels = 40 + 9 * static_cast<int64_t>(k);
      for (int64_t i = 0; i < v.in_channels * v.out_channels; ++i) v.weights.push_back(static_cast<int8_t>(w(rng)));
      for (int64_t o = 0; o < v.out_channels; ++o) {
        v.rq.scale.push_back(1e-4f * (1 + o % 5));
        v.rq.bias_acc.push_back(u(rng) / v.rq.scale.back());
      }
      v.rq.post = chains[k];
      v.rq.out = k == 2 || k == 3 ? 2 : 1;
      Conv1x1Int8 scalar = v;
      v.pack();
      ASSERT_TRUE(v.vectorized());
      ASSERT_FALSE(scalar.vectorized());
      const int64_t P = 293;
      std::vector<uint8_t> x(static_cast<size_t>(P * v.in_channels));
      for (auto& e : x) e = static_cast<uint8_t>(b(rng));
      std::vector<uint8_t> a(static_cast<size_t>(P * v.out_channels)), c(a.size());
      v.run(x.data(), P, x_s8, a.data());
      scalar.run(x.data(), P, x_s8, c.data());
      int64_t differ = 0;
      for (size_t i = 0; i < a.size(); ++i) differ += a[i] != c[i];
      EXPECT_EQ(differ, 0) << "chain " << k << (x_s8 ? " int8 input" : "") << ": " << differ << " of " << a.size();
    }
}

}  // namespace compress::runtime
