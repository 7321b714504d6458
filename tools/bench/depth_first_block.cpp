// Would running an inverted-residual block depth-first beat running it layer
// by layer, in oneDNN? One int8 block (expand 1x1 + ReLU -> uint8, depthwise
// kxk / stride s + ReLU -> uint8, project 1x1 -> int8) both ways, with 8 MB of
// caches overwritten before every repetition (inside a model the other
// layers evict them), interleaved; prints the medians and whether the codes
// agree byte for byte.
//
//   build/bench_depth_first_block                  # MobileNetV3-Large's blocks 1 and 2 at 320 px, tiles of 4, 8, 16
//   rows build/bench_depth_first_block H CIN E COUT K S T [REPS]
//
// Depth-first: output rows in tiles of T; each tile's expand rows go to a
// small buffer ([(T-1)*s + k, W, E], the halo rows the previous tile already
// computed moved up rather than computed again), the depthwise conv reads
// them (a primitive per tile height and padding), and the project conv
// writes the tile's rows of the output. Why it exists: inside a model a conv
// runs 30% slower than the same primitive run again at once (the pruned int8
// YOLOv3, docs/runtime.md), and this is the test of whether keeping a
// block's expanded maps in cache recovers that. On this machine
// (2026-12-07, 1 thread) it did not: blocks.1 297-305 us layer by layer,
// 347 / 319 / 303 with tiles of 4 / 8 / 16 rows; blocks.2 212-217 against
// 283 / 243 / 229.

#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

// One int8 conv on NHWC codes with per-channel output scales; its weights
// and bias are fixed patterns, the same for every tile's primitive.
struct Conv {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory w, b;
};

struct ConvShape {
  int ic, oc, h, w, k, s;
  int pad_top, pad_bottom, pad_side;
  bool depthwise, relu;
  dt out;
};

Conv make_conv(const ConvShape& c) {
  const int oh = (c.h + c.pad_top + c.pad_bottom - c.k) / c.s + 1, ow = (c.w + 2 * c.pad_side - c.k) / c.s + 1;
  memory::desc src({1, c.ic, c.h, c.w}, dt::u8, tag::nhwc), dst({1, c.oc, oh, ow}, c.out, tag::nhwc),
      bias({c.oc}, dt::f32, tag::x);
  memory::desc wei = c.depthwise ? memory::desc({c.oc, 1, 1, c.k, c.k}, dt::s8, tag::any)
                                 : memory::desc({c.oc, c.ic, c.k, c.k}, dt::s8, tag::any);
  auto d =
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wei,
                                      bias, dst, {c.s, c.s}, {c.pad_top, c.pad_side}, {c.pad_bottom, c.pad_side});
  dnnl::primitive_attr attr;
  std::vector<float> scales(c.oc);
  for (int i = 0; i < c.oc; ++i) scales[i] = 0.01f * static_cast<float>(1 + i % 5);
  attr.set_output_scales(1 << 1, scales);
  if (c.relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0, 0);
    attr.set_post_ops(po);
  }
  dnnl::convolution_forward::primitive_desc pd(d, attr, eng());
  Conv conv{pd, dnnl::convolution_forward(pd), memory(pd.weights_desc(), eng()), memory(bias, eng())};
  // The pattern is laid out in the primitive's own weight format: any fixed
  // bytes do, as long as every tile's primitive gets the same ones.
  auto* wp = static_cast<int8_t*>(conv.w.get_data_handle());
  for (size_t i = 0; i < pd.weights_desc().get_size(); ++i) wp[i] = static_cast<int8_t>((i * 37) % 7) - 3;
  auto* bp = static_cast<float*>(conv.b.get_data_handle());
  for (int i = 0; i < c.oc; ++i) bp[i] = 0.5f * static_cast<float>(i % 3);
  return conv;
}

void run(Conv& c, const void* src, void* dst) {
  memory ms(c.pd.src_desc(), eng(), const_cast<void*>(src)), md(c.pd.dst_desc(), eng(), dst);
  c.prim.execute(strm(), {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, c.w}, {DNNL_ARG_BIAS, c.b}, {DNNL_ARG_DST, md}});
  strm().wait();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void bench(int H, int cin, int e, int cout, int k, int s, int T, int reps) {
  const int W = H, p = k / 2, OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  std::vector<uint8_t> x(static_cast<size_t>(H) * W * cin), expanded(static_cast<size_t>(H) * W * e),
      dwout(static_cast<size_t>(OH) * OW * e), y(static_cast<size_t>(OH) * OW * cout), y_tiled(y.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>((i * 13) % 11);
  Conv expand = make_conv({cin, e, H, W, 1, 1, 0, 0, 0, false, true, dt::u8});
  Conv dw = make_conv({e, e, H, W, k, s, p, p, p, true, true, dt::u8});
  Conv project = make_conv({e, cout, OH, OW, 1, 1, 0, 0, 0, false, false, dt::s8});
  auto layered = [&] {
    run(expand, x.data(), expanded.data());
    run(dw, expanded.data(), dwout.data());
    run(project, dwout.data(), y.data());
  };

  std::map<int, Conv> tile_expand, tile_project;      // by rows
  std::map<std::tuple<int, int, int>, Conv> tile_dw;  // by input rows, top and bottom padding
  std::vector<uint8_t> rows_e(static_cast<size_t>((T - 1) * s + k) * W * e), rows_d(static_cast<size_t>(T) * OW * e);
  const size_t row_e = static_cast<size_t>(W) * e;
  auto tiled = [&] {
    int have_lo = 0, have_hi = 0;  // the expand rows in rows_e: [have_lo, have_hi)
    for (int o0 = 0; o0 < OH; o0 += T) {
      const int o1 = std::min(OH, o0 + T);
      const int r0 = o0 * s - p, r1 = (o1 - 1) * s - p + k;  // input rows the tile reads, padding included
      const int pad_top = std::max(0, -r0), pad_bottom = std::max(0, r1 - H);
      const int c0 = std::max(0, r0), c1 = std::min(H, r1);
      const int keep = std::max(0, have_hi - c0);  // halo rows the last tile computed
      if (keep > 0) std::memmove(rows_e.data(), rows_e.data() + (c0 - have_lo) * row_e, keep * row_e);
      if (c0 + keep < c1) {
        const int n = c1 - c0 - keep;
        auto it = tile_expand.find(n);
        if (it == tile_expand.end())
          it = tile_expand.emplace(n, make_conv({cin, e, n, W, 1, 1, 0, 0, 0, false, true, dt::u8})).first;
        run(it->second, x.data() + static_cast<size_t>(c0 + keep) * W * cin, rows_e.data() + keep * row_e);
      }
      have_lo = c0;
      have_hi = c1;
      const auto key = std::make_tuple(c1 - c0, pad_top, pad_bottom);
      auto jt = tile_dw.find(key);
      if (jt == tile_dw.end())
        jt =
            tile_dw.emplace(key, make_conv({e, e, c1 - c0, W, k, s, pad_top, pad_bottom, p, true, true, dt::u8})).first;
      run(jt->second, rows_e.data(), rows_d.data());
      auto kt = tile_project.find(o1 - o0);
      if (kt == tile_project.end())
        kt =
            tile_project.emplace(o1 - o0, make_conv({e, cout, o1 - o0, OW, 1, 1, 0, 0, 0, false, false, dt::s8})).first;
      run(kt->second, rows_d.data(), y_tiled.data() + static_cast<size_t>(o0) * OW * cout);
    }
  };

  std::vector<uint8_t> junk(size_t{8} << 20);
  volatile unsigned sink = 0;
  auto pollute = [&](int r) {
    std::memset(junk.data(), r, junk.size());
    for (size_t i = 0; i < x.size(); i += 64) sink = sink + x[i];  // the block's input is hot, as just produced
  };
  std::vector<double> t_layered, t_tiled;
  for (int r = 0; r < reps + 20; ++r) {
    pollute(r);
    const double t0 = now_us();
    layered();
    const double t1 = now_us();
    pollute(r);
    const double t2 = now_us();
    tiled();
    const double t3 = now_us();
    if (r >= 20) {  // after the primitives for every tile shape exist
      t_layered.push_back(t1 - t0);
      t_tiled.push_back(t3 - t2);
    }
  }
  const double a = median(t_layered), b = median(t_tiled);
  std::printf(
      "%3dx%-3d %3d -> %3d -> %3d, %dx%d/%d, tiles of %2d rows: layer by layer %7.1f us, depth-first %7.1f us "
      "(%.2fx), codes %s\n",
      H, W, cin, e, cout, k, k, s, T, a, b, b / a, y == y_tiled ? "identical" : "DIFFER");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 8) {
    bench(std::atoi(argv[1]), std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
          std::atoi(argv[6]), std::atoi(argv[7]), argc > 8 ? std::atoi(argv[8]) : 300);
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: bench_depth_first_block [H CIN E COUT K S T [REPS]]\n");
    return 2;
  }
  for (int T : {4, 8, 16}) {
    bench(160, 16, 64, 24, 3, 2, T, 300);  // MobileNetV3-Large blocks.1 at 320 px
    bench(80, 24, 72, 24, 3, 1, T, 300);   // blocks.2
  }
}
