// An int8 depthwise conv of the runtime's own (one filter per channel,
// kh x kw, any stride and padding, codes in and out, channels-last), for
// AVX512-VNNI CPUs. oneDNN 2.6 runs MobileNetV3's depthwise convs at a
// fraction of its dense int8 speed (docs/runtime.md), a third of the int8
// SSDLite-Large's time.
//
// vpdpbusd sums 4 byte products per 32-bit lane; here a lane is a channel
// and its 4 bytes are 4 vertical taps of that channel: for each output row,
// each input column's kh rows (for 64 channels) are interleaved once into
// 32-bit (row, row + 1, row + 2, row + 3) groups, and every output of the row
// then takes one vpdpbusd per kernel column, group and 16 channels, reading
// the interleaved columns it covers. Same arithmetic as the oneDNN conv it
// stands in for (conv_1x1_int8.h's epilogue).
#pragma once
#include <cstdint>
#include <vector>

#include "compress/runtime/conv_1x1_int8.h"

namespace compress::runtime {

struct ConvDwInt8 {
  int64_t channels = 0, kh = 3, kw = 3, stride_h = 1, stride_w = 1, pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  std::vector<int8_t> weights;  // [C, 1, kh, kw]
  Int8Requant rq;               // writing codes (out 1 or 2)
  // Made by pack(): per block of 64 channels, kernel column, group of 4
  // kernel rows and quarter q, 64 bytes whose 32-bit lane (L, j) holds the 4
  // rows' weights of channel 64 block + 16 L + 4 q + j (the order the byte
  // interleaving leaves channels in); the sums' start (-128 * sum(w), for
  // int8 inputs), bias and scale in the same order.
  int64_t blocks = 0, groups = 0;
  std::vector<int8_t> packed;
  std::vector<int32_t> comp;
  std::vector<float> bias64, scale64;
  void pack();  // also plans rq
  int64_t out_h(int64_t H) const { return (H + pad_t + pad_b - kh) / stride_h + 1; }
  int64_t out_w(int64_t W) const { return (W + pad_l + pad_r - kw) / stride_w + 1; }
  // x: [N, H, W, C] codes (uint8, or int8 storage of zero point 128); y:
  // [N, OH, OW, C] codes. Splits the output rows over the runtime's threads.
  void run(const uint8_t* x, bool x_s8, int64_t N, int64_t H, int64_t W, void* y) const;
};

}  // namespace compress::runtime
