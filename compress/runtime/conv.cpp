#include "compress/runtime/conv.h"

#include "compress/runtime/conv_1x1_int8.h"
#include "compress/runtime/conv_dw_int8.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>
#include <stdexcept>

namespace compress::runtime {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {
dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}
dt dnnl_type(DType t) {
  switch (t) {
    case DType::f32:
      return dt::f32;
    case DType::u8:
      return dt::u8;
    case DType::s8:
      return dt::s8;
    case DType::s32:
      return dt::s32;
    default:
      throw std::runtime_error(std::string("runtime: oneDNN has no ") + dtype_name(t) + " convolution input");
  }
}
}  // namespace

void set_threads(int threads) { omp_set_num_threads(std::max(1, threads)); }

std::string ConvSpec::describe() const {
  std::ostringstream s;
  s << name << ": " << (int8 ? "int8" : "f32") << " conv " << in_channels << "->" << out_channels << " " << kh << "x"
    << kw << "/" << strides[0];
  if (groups > 1) s << " groups " << groups;
  static const char* names[] = {"relu", "clip", "leaky_relu", "hard_sigmoid", "hard_swish", "sigmoid"};
  for (const auto& p : post) s << " +" << names[p.kind];
  if (quantize_output) s << " -> " << (out_zp == 0 ? "uint8" : "int8") << " @" << out_scale;
  return s.str();
}

// Convs smaller than this many multiply-adds run on one thread whatever the
// session's count: splitting them costs more in OpenMP fork and join than
// the second core gives back (SSDLite's SE convs and its head's 5x5 to 1x1
// maps; measured in docs/runtime.md).
// COMPRESS_ONE_THREAD_MACS overrides it (0: every conv on all threads), for
// tuning on another CPU.
int64_t one_thread_macs() {
  static const int64_t v = [] {
    const char* e = std::getenv("COMPRESS_ONE_THREAD_MACS");
    return e && *e ? std::atoll(e) : int64_t{1} << 20;
  }();
  return v;
}

struct ConvKernel::Prim {
  dnnl::convolution_forward conv;
  bool one_thread = false;
  memory weights, bias, src, dst;
  std::unordered_map<int, memory> args;
  memory::desc src_md, dst_md;
  std::vector<int64_t> out_dims;
  DType out_type = DType::f32;
  // Autotuning (see conv_autotune()): the same conv built for one thread,
  // timed against this one over the first runs, then kept or dropped.
  std::unique_ptr<Prim> solo;
  std::vector<double> ms_many, ms_solo;
};

namespace {
// A conv big enough to split runs its first 2 * kTrialRuns runs alternating
// between a primitive built for all threads and one built for one, and keeps
// the faster (median). Why: whether oneDNN's split of a conv over two
// threads pays depends on the conv's shape and the machine: on this one an
// FMA-bound loop of 35 us gains 1.6x from a second thread and one of 3.5 us
// loses (a fork and join costs 3.3 us; build/bench_thread_scaling), and
// SSDLite-Small's 10-60 us convs went either way. COMPRESS_CONV_AUTOTUNE=0
// turns the trial off (the MAC threshold alone decides).
constexpr size_t kTrialRuns = 5;
bool conv_autotune() {
  static const bool v = [] {
    const char* e = std::getenv("COMPRESS_CONV_AUTOTUNE");
    return !(e && std::string(e) == "0");
  }();
  return v;
}
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

namespace {
// Whether an int8 conv writing codes requantizes with one multiplier per
// channel, s_x * s_w[c] / s_y (as ONNX Runtime's QLinearConv does), rather
// than s_x * s_w[c], the activation, then 1 / s_y as a last post-op (one
// multiply and, for uint8 codes, the ReLU fewer per output). Only with no
// activation or a ReLU: both commute with a positive scale. COMPRESS_REQUANT
// = chain keeps the three steps (for measuring).
bool fold_output_scale(const ConvSpec& s) {
  static const bool chain = [] {
    const char* e = std::getenv("COMPRESS_REQUANT");
    return e && std::string(e) == "chain";
  }();
  return !chain && s.int8 && s.quantize_output &&
         (s.post.empty() || (s.post.size() == 1 && s.post[0].kind == PostOp::relu));
}

// Per output channel, the multiplier of the exact int32 sum plus bias.
std::vector<float> requant_scales(const ConvSpec& s) {
  std::vector<float> scales(s.out_channels);
  for (int64_t c = 0; c < s.out_channels; ++c) {
    scales[c] = s.in_scale * s.weight_scale[c];
    if (fold_output_scale(s)) scales[c] /= s.out_scale;
  }
  return scales;
}

std::vector<Eltwise> eltwise_chain(const ConvSpec& s) {
  std::vector<Eltwise> chain;
  if (fold_output_scale(s)) {
    // A ReLU before uint8 codes is the saturation at code 0 itself.
    if (!s.post.empty() && s.out_zp != 0) chain.push_back({Eltwise::relu, 0.f, 0.f});
    return chain;
  }
  // oneDNN 2.6's brgemm convs apply the first eltwise_linear's alpha and
  // beta to every eltwise_linear of the chain (a standalone int8 1x1 conv
  // with linear(1/6, 1/2) then linear(255): every code wrong), so a chain
  // holds at most one: a hard-sigmoid whose output the conv rounds takes
  // the 1 / s_y in its own linear and clip.
  const bool fold_quantize = s.quantize_output && !s.post.empty() && s.post.back().kind == PostOp::hard_sigmoid;
  for (size_t i = 0; i < s.post.size(); ++i) {
    const auto& p = s.post[i];
    if (fold_quantize && i + 1 == s.post.size()) {
      const float q = 1.f / s.out_scale;
      chain.push_back({Eltwise::linear, p.alpha * q, p.beta * q});
      chain.push_back({Eltwise::clip, 0.f, q});
      return chain;
    }
    switch (p.kind) {
      case PostOp::relu:
        chain.push_back({Eltwise::relu, 0.f, 0.f});
        break;
      case PostOp::clip:
        chain.push_back({Eltwise::clip, p.alpha, p.beta});
        break;
      case PostOp::leaky_relu:
        chain.push_back({Eltwise::relu, p.alpha, 0.f});
        break;
      case PostOp::hard_sigmoid:
        chain.push_back({Eltwise::linear, p.alpha, p.beta});
        chain.push_back({Eltwise::clip, 0.f, 1.f});
        break;
      case PostOp::hard_swish:
        chain.push_back({Eltwise::hard_swish, 0.f, 0.f});
        break;
      case PostOp::sigmoid:
        chain.push_back({Eltwise::logistic, 0.f, 0.f});
        break;
    }
  }
  // Writing codes: y / s_y, then the saturating round to nearest even.
  if (s.quantize_output) chain.push_back({Eltwise::linear, 1.f / s.out_scale, 0.f});
  if (std::count_if(chain.begin(), chain.end(), [](const Eltwise& e) { return e.alg == Eltwise::linear; }) > 1)
    throw std::runtime_error("runtime: conv '" + s.name + "' (" + s.describe() +
                             ") needs two linear post-ops, which oneDNN 2.6 would run wrongly");
  return chain;
}
}  // namespace

// Which int8 1x1 convs run in the runtime's own loop (conv_1x1_int8.h)
// rather than oneDNN's: measured in the models, conv by conv (docs/runtime.md,
// "The runtime's own int8 1x1 loop"), the loop wins
//   - over maps of at most 9 pixels (the SE blocks' 1x1 maps, SSDLite's last
//     extra layers and heads), where oneDNN's cold call costs more than the
//     arithmetic;
//   - for at most 48 output channels from at least 64 input channels that
//     are not a multiple of 64 (MobileNetV3's 72 -> 24 and 72 -> 40
//     projections, YOLOv3's 168 -> 16, SSDLite's 672 -> 24 box head), where
//     oneDNN 2.6's AMX kernels run part-empty tiles;
// and loses to oneDNN everywhere else, even for few input channels (16 -> 64
// at 160x160: its epilogue, not the multiply-adds, bounds both). Where the
// CPU lacks AVX512-VNNI only the 1x1 maps come here (a scalar loop).
// COMPRESS_OWN_1X1=0 sends every conv over more than one pixel to oneDNN,
// =all every int8 1x1 conv here (for measuring on another CPU).
bool ConvKernel::own_1x1(const ConvSpec& s, const Value& x) const {
  if (!s.int8 || s.groups != 1 || s.kh != 1 || s.kw != 1 || s.strides != std::vector<int64_t>{1, 1} ||
      s.pads != std::vector<int64_t>{0, 0, 0, 0} || plain_released_)
    return false;
  const int64_t pixels = x.dims[0] * x.dims[2] * x.dims[3];
  if (pixels == 1) return true;
  const bool vector_chain =
      std::none_of(s.post.begin(), s.post.end(), [](const PostOp& p) { return p.kind == PostOp::sigmoid; });
  if (!vector_chain || !cpu_has_vnni() || own_1x1_mode_ == OwnMode::off) return false;
  if (own_1x1_mode_ == OwnMode::all) return true;
  return pixels <= 9 || (s.out_channels <= 48 && s.in_channels >= 64 && s.in_channels % 64 != 0);
}

// Int8 depthwise convs writing codes run in the runtime's own loop
// (conv_dw_int8.h) where the CPU has AVX512-VNNI and the loop beat oneDNN in
// the models, conv by conv (docs/runtime.md): at least 96 channels (its
// blocks of 64 channels mostly full; MobileNetV3's 120 -> 960-channel
// layers and the SSDLite heads), or at most 16 output pixels. With fewer
// channels (16, 64, 72 at 160x160 and 80x80) oneDNN's kernels win.
// COMPRESS_OWN_DW=0 (read when the kernel is made) sends all to oneDNN,
// =all sends all here.
bool ConvKernel::own_dw(const ConvSpec& s, const Value& x) const {
  if (own_dw_mode_ == OwnMode::off || !s.int8 || s.groups <= 1 || s.groups != s.in_channels ||
      s.out_channels != s.in_channels || !s.quantize_output || s.dilations != std::vector<int64_t>{1, 1} || s.kh > 8 ||
      plain_released_ || !cpu_has_vnni() ||
      std::any_of(s.post.begin(), s.post.end(), [](const PostOp& p) { return p.kind == PostOp::sigmoid; }))
    return false;
  const int64_t OH = (x.dims[2] + s.pads[0] + s.pads[2] - s.kh) / s.strides[0] + 1;
  const int64_t OW = (x.dims[3] + s.pads[1] + s.pads[3] - s.kw) / s.strides[1] + 1;
  return own_dw_mode_ == OwnMode::all || s.in_channels >= 96 || OH * OW <= 16;
}

ValuePtr ConvKernel::run_dw(const ValuePtr& x) {
  const auto& s = spec_;
  if (!dw_) {
    dw_ = std::make_unique<ConvDwInt8>();
    auto& d = *dw_;
    d.channels = s.in_channels;
    d.kh = s.kh;
    d.kw = s.kw;
    d.stride_h = s.strides[0];
    d.stride_w = s.strides[1];
    d.pad_t = s.pads[0];
    d.pad_l = s.pads[1];
    d.pad_b = s.pads[2];
    d.pad_r = s.pads[3];
    d.weights = s.weight_s8;
    setup_requant(d.rq);
    d.pack();
  }
  const auto& d = *dw_;
  const int64_t N = x->dims[0], H = x->dims[2], W = x->dims[3];
  if (d.out_h(H) <= 0 || d.out_w(W) <= 0)
    throw std::runtime_error("runtime: conv '" + s.name + "' gets an input too small: " + dims_str(x->dims));
  auto y = out_value({N, s.out_channels, d.out_h(H), d.out_w(W)});
  d.run(static_cast<const uint8_t*>(x->buf->data()), x->type == DType::s8, N, H, W, y->buf->data());
  ++own_runs_;
  return y;
}

namespace {
// COMPRESS_OWN_1X1 / COMPRESS_OWN_DW: 0 (oneDNN's), all (the own loop's), or
// unset (the measured rule).
ConvKernel::OwnMode own_mode(const char* var) {
  const char* e = std::getenv(var);
  const std::string v = e ? e : "";
  return v == "0" ? ConvKernel::OwnMode::off : v == "all" ? ConvKernel::OwnMode::all : ConvKernel::OwnMode::rule;
}
}  // namespace

ConvKernel::ConvKernel(ConvSpec spec)
    : spec_(std::move(spec)), own_1x1_mode_(own_mode("COMPRESS_OWN_1X1")), own_dw_mode_(own_mode("COMPRESS_OWN_DW")) {}

namespace {
// The weights as the spec holds them: [O, I / groups, kh, kw], or with the
// groups split out ([G, O / G, I / G, kh, kw]) for a grouped conv.
memory::desc user_weights_desc(const ConvSpec& s) {
  const bool grouped = s.groups > 1;
  const memory::dims wdims =
      grouped ? memory::dims{s.groups, s.out_channels / s.groups, s.in_channels / s.groups, s.kh, s.kw}
              : memory::dims{s.out_channels, s.in_channels, s.kh, s.kw};
  return memory::desc(wdims, s.int8 ? dt::s8 : dt::f32, grouped ? tag::goihw : tag::oihw);
}
}  // namespace

// The spec's own copy of the weights goes once a primitive holds them in its
// format: keeping both doubled the weights' memory (YOLOv3 int8: 24 MB more
// than ONNX Runtime's peak). A later input shape gets them back from that
// primitive by the reverse reorder, which is exact; where oneDNN has no such
// reorder, the copy stays.
const memory* ConvKernel::held_weights() const {
  for (const auto& [key, prim] : cache_)
    if (prim) return &prim->weights;
  return nullptr;
}

void ConvKernel::release_plain_weights() {
  auto& s = spec_;
  const memory* held_p = held_weights();
  if (!held_p || plain_released_) return;
  const memory& held = *held_p;
  try {
    dnnl::reorder::primitive_desc(engine(), held.get_desc(), engine(), user_weights_desc(s));
  } catch (const dnnl::error&) {
    return;
  }
  std::vector<int8_t>().swap(s.weight_s8);
  std::vector<float>().swap(s.weight_f32);
  plain_released_ = true;
}

void ConvKernel::restore_plain_weights() {
  auto& s = spec_;
  if (!plain_released_) return;
  const memory& held = *held_weights();  // released only while a primitive holds them
  const int64_t n = s.out_channels * (s.in_channels / s.groups) * s.kh * s.kw;
  void* dst = nullptr;
  if (s.int8) {
    s.weight_s8.resize(n);
    dst = s.weight_s8.data();
  } else {
    s.weight_f32.resize(n);
    dst = s.weight_f32.data();
  }
  memory plain(user_weights_desc(s), engine(), dst);
  dnnl::reorder(held, plain).execute(stream(), const_cast<memory&>(held), plain);
  stream().wait();
  plain_released_ = false;
}
ConvKernel::~ConvKernel() = default;

// The scales, bias (in accumulator units, as oneDNN takes it), post-op
// chain and output type of the runtime's own int8 loops.
void ConvKernel::setup_requant(Int8Requant& r) const {
  const auto& s = spec_;
  r.scale = requant_scales(s);
  for (int64_t c = 0; c < s.out_channels && !s.bias.empty(); ++c)
    r.bias_acc.push_back(s.bias[c] / (s.in_scale * s.weight_scale[c]));
  r.post = eltwise_chain(s);
  r.out = !s.quantize_output ? 0 : s.out_zp == 0 ? 1 : 2;
}

ValuePtr ConvKernel::out_value(const std::vector<int64_t>& dims) const {
  const auto& s = spec_;
  auto y = make_value(!s.quantize_output ? DType::f32 : s.out_zp == 0 ? DType::u8 : DType::s8, dims, true);
  if (s.quantize_output) {
    y->quantized = true;
    y->scale = s.out_scale;
    y->zp = s.out_zp;
  }
  return y;
}

ValuePtr ConvKernel::run(const ValuePtr& x_in) {
  const auto& s = spec_;
  ValuePtr x = x_in;
  if (s.int8) {
    if (!x->quantized || (x->type != DType::u8 && x->type != DType::s8))
      throw std::runtime_error("runtime: int8 conv '" + s.name + "' got a " + dtype_name(x->type) +
                               " input, not quantized codes");
    if (x->zp != s.in_zp)
      throw std::runtime_error("runtime: int8 conv '" + s.name + "' reads codes with zero point " +
                               std::to_string(x->zp) + " through a DequantizeLinear with zero point " +
                               std::to_string(s.in_zp));
    if (x->type == DType::u8 && x->zp != 0)
      throw std::runtime_error("runtime: int8 conv '" + s.name + "': a uint8 input with zero point " +
                               std::to_string(x->zp) + " (only 0 and 128 run)");
  } else {
    x = materialize(x);
    if (x->type != DType::f32) throw std::runtime_error("runtime: float conv '" + s.name + "' got a non-float input");
  }
  if (x->dims.size() != 4 || x->dims[1] != s.in_channels)
    throw std::runtime_error("runtime: conv '" + s.name + "' expects [N," + std::to_string(s.in_channels) +
                             ",H,W] input, got " + dims_str(x->dims));
  x = to_nhwc(x);
  if (own_dw(s, *x)) return run_dw(x);
  // A 1x1 int8 conv the runtime's own loop runs faster than oneDNN
  // (conv_1x1_int8.h; own_1x1 says which).
  if (own_1x1(s, *x)) {
    if (!own_) {
      own_ = std::make_unique<Conv1x1Int8>();
      own_->in_channels = s.in_channels;
      own_->out_channels = s.out_channels;
      own_->weights = s.weight_s8;
      setup_requant(own_->rq);
      own_->pack();
    }
    auto y = out_value({x->dims[0], s.out_channels, x->dims[2], x->dims[3]});
    own_->run(x->buf->data(), x->dims[0] * x->dims[2] * x->dims[3], x->type == DType::s8, y->buf->data());
    ++own_runs_;
    return y;
  }
  // The primitive for this input shape and type: the last one, or from the cache.
  const bool same = last_ && last_dims_ == x->dims && last_type_ == x->type;
  if (!same) {
    std::vector<int64_t> key = x->dims;
    key.push_back(static_cast<int64_t>(x->type));
    auto& slot = cache_[key];
    if (!slot) {
      restore_plain_weights();
      build(*x, slot, false, nullptr);
      if (conv_autotune() && !slot->one_thread && omp_get_max_threads() > 1)
        build(*x, slot->solo, true, &slot->weights);
      release_plain_weights();
    }
    last_ = slot.get();
    last_dims_ = x->dims;
    last_type_ = x->type;
  }
  Prim* prim = last_;
  // While a trial runs, the primitive with fewer timed runs goes next.
  Prim* exec = prim->solo && prim->ms_solo.size() < prim->ms_many.size() ? prim->solo.get() : prim;
  auto y = make_value(prim->out_type, prim->out_dims, true);
  if (s.quantize_output) {
    y->quantized = true;
    y->scale = s.out_scale;
    y->zp = s.out_zp;
  }
  // Memory objects made once per primitive; each run only points them at its buffers.
  exec->src.set_data_handle(x->buf->data());
  exec->dst.set_data_handle(y->buf->data());
  const auto t0 = std::chrono::steady_clock::now();
  if (exec->one_thread) {
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    exec->conv.execute(stream(), exec->args);
    stream().wait();
    omp_set_num_threads(threads);
  } else {
    exec->conv.execute(stream(), exec->args);
    stream().wait();
  }
  if (prim->solo) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    (exec == prim ? prim->ms_many : prim->ms_solo).push_back(ms);
    if (prim->ms_solo.size() == kTrialRuns) {
      auto solo = std::move(prim->solo);
      if (median_of(prim->ms_solo) < median_of(prim->ms_many)) *prim = std::move(*solo);
      prim->ms_many.clear();
      prim->ms_solo.clear();
    }
  }
  return y;
}

void ConvKernel::build(const Value& xv, std::unique_ptr<Prim>& prim, bool solo, const dnnl::memory* weights) {
  const auto& s = spec_;
  const Value* x = &xv;
  {
    prim = std::make_unique<Prim>();
    const int64_t N = x->dims[0], H = x->dims[2], W = x->dims[3];
    const int64_t OH = (H + s.pads[0] + s.pads[2] - ((s.kh - 1) * s.dilations[0] + 1)) / s.strides[0] + 1;
    const int64_t OW = (W + s.pads[1] + s.pads[3] - ((s.kw - 1) * s.dilations[1] + 1)) / s.strides[1] + 1;
    if (OH <= 0 || OW <= 0)
      throw std::runtime_error("runtime: conv '" + s.name + "' gets an input too small: " + dims_str(x->dims));
    prim->out_dims = {N, s.out_channels, OH, OW};
    const int64_t macs = N * OH * OW * s.out_channels * (s.in_channels / s.groups) * s.kh * s.kw;
    prim->one_thread = omp_get_max_threads() > 1 && (solo || macs < one_thread_macs());
    prim->out_type = s.quantize_output ? (s.out_zp == 0 ? DType::u8 : DType::s8) : DType::f32;
    const dt wdt = s.int8 ? dt::s8 : dt::f32;
    prim->src_md = memory::desc({N, s.in_channels, H, W}, dnnl_type(x->type), tag::nhwc);
    prim->dst_md = memory::desc({N, s.out_channels, OH, OW}, dnnl_type(prim->out_type), tag::nhwc);
    const memory::desc w_user = user_weights_desc(s);
    const memory::desc w_any(w_user.dims(), wdt, tag::any);
    const memory::desc b_md({s.out_channels}, dt::f32, tag::x);

    dnnl::primitive_attr attr;
    std::vector<float> bias = s.bias;
    if (s.int8) {
      // Per output channel: acc (int32) * s_x * s_w[c] is the float conv
      // output. oneDNN adds the bias to the int32 sum before scaling, so the
      // float bias goes in accumulator units.
      for (int64_t c = 0; c < s.out_channels && !bias.empty(); ++c) bias[c] /= s.in_scale * s.weight_scale[c];
      attr.set_output_scales(1 << 1, requant_scales(s));
    }
    dnnl::post_ops po;
    for (const auto& e : eltwise_chain(s)) {
      static const dnnl::algorithm alg[] = {dnnl::algorithm::eltwise_relu, dnnl::algorithm::eltwise_clip,
                                            dnnl::algorithm::eltwise_linear, dnnl::algorithm::eltwise_hardswish,
                                            dnnl::algorithm::eltwise_logistic};
      po.append_eltwise(1.f, alg[e.alg], e.alpha, e.beta);
    }
    attr.set_post_ops(po);

    const memory::dims strides{s.strides[0], s.strides[1]};
    const memory::dims dil{s.dilations[0] - 1, s.dilations[1] - 1};
    const memory::dims pl{s.pads[0], s.pads[1]}, pr{s.pads[2], s.pads[3]};
    const bool has_bias = !bias.empty();
    auto d =
        has_bias
            ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                              prim->src_md, w_any, b_md, prim->dst_md, strides, dil, pl, pr)
            : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                              prim->src_md, w_any, prim->dst_md, strides, dil, pl, pr);
    // Built for the threads it will run on (oneDNN's kernels split their
    // work for the thread count at creation).
    const int threads = omp_get_max_threads();
    if (prim->one_thread) omp_set_num_threads(1);
    struct Restore {
      int n;
      bool on;
      ~Restore() {
        if (on) omp_set_num_threads(n);
      }
    } restore{threads, prim->one_thread};
    dnnl::convolution_forward::primitive_desc pd;
    try {
      pd = dnnl::convolution_forward::primitive_desc(d, attr, engine());
    } catch (const dnnl::error& e) {
      throw std::runtime_error("runtime: oneDNN has no kernel for conv '" + s.name + "' (" + s.describe() +
                               "): " + e.what());
    }
    prim->conv = dnnl::convolution_forward(pd);
    if (weights && pd.weights_desc() == weights->get_desc()) {
      prim->weights = *weights;  // the other primitive's, shared
    } else {
      // Weights reordered once into the kernel's own format.
      void* wsrc = s.int8 ? static_cast<void*>(const_cast<int8_t*>(s.weight_s8.data()))
                          : static_cast<void*>(const_cast<float*>(s.weight_f32.data()));
      memory w_user_mem(w_user, engine(), wsrc);
      prim->weights = memory(pd.weights_desc(), engine());
      dnnl::reorder(w_user_mem, prim->weights).execute(stream(), w_user_mem, prim->weights);
    }
    if (has_bias) {
      prim->bias = memory(b_md, engine());
      std::copy(bias.begin(), bias.end(), static_cast<float*>(prim->bias.get_data_handle()));
    }
    stream().wait();
  }
  prim->src = memory(prim->src_md, engine(), DNNL_MEMORY_NONE);
  prim->dst = memory(prim->dst_md, engine(), DNNL_MEMORY_NONE);
  prim->args = {{DNNL_ARG_SRC, prim->src}, {DNNL_ARG_WEIGHTS, prim->weights}, {DNNL_ARG_DST, prim->dst}};
  if (!s.bias.empty()) prim->args[DNNL_ARG_BIAS] = prim->bias;
}

}  // namespace compress::runtime
