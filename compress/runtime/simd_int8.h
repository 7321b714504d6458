// Hand-written AVX-512 forms of the elementwise passes between int8 convs:
// QuantizeLinear, the residual Add / SE Mul that write codes. Each does the
// scalar loop's float operations in the same order (dequantize s * (q - zp),
// the op, x / s, clamp, round half to even), so the codes are bit-identical
// to the portable loops (NaN inputs aside: the portable loops leave them to
// an undefined cast). They exist because the compiler's vectorization of the
// portable loops spends 5x the instructions (byte packing, spills): on this
// machine QuantizeLinear of a 320x320x3 image went from 96 us to 19.
// Callers check avx512() first; the portable loops stay the fallback.
#pragma once
#include <cstdint>

#include "compress/runtime/value.h"

namespace compress::runtime::simd {

// AVX-512 F, BW and VL on this CPU (checked once; COMPRESS_SIMD=0 says no,
// to run the portable loops for testing them).
bool avx512();

using runtime::Operand;

// y[k] = Q(x[k]) on grid s: int8 codes in [-128, 127] when s8, else uint8 in [0, 255].
void quantize(const float* x, void* y, bool s8, int64_t n, float s);
// y[k] = Q(a[k] + b[k]) (add) or Q(a[k] * b[k]).
void binary(bool add, const Operand& a, const Operand& b, void* y, bool s8, int64_t n, float s);
// y[k] = a[k] + b[k] (add) or a[k] * b[k] in float: a residual sum that
// stays float, its operands read as codes without making their floats first.
void binary_float(bool add, const Operand& a, const Operand& b, float* y, int64_t n);
// y[k] = table[x[k]] over bytes into floats (the int8 h-swish's float
// output): the 256-entry table held in 16 registers and looked up with eight
// two-register permutes chosen by the index's top three bits, 1.6x faster than
// gathers on this machine.
void lookup_float(const uint8_t* x, float* y, int64_t n, const float* table);
// The SE gate over P pixels of one NHWC image: y[p, c] = Q(x[p, c] * g[c])
// (Q(g[c] * x[p, c]) when !x_first: the same product).
void per_channel_mul(const Operand& x, const float* g, bool x_first, void* y, bool s8, int64_t P, int64_t C, float s);

// AVX-512 VBMI (byte permutes) on this CPU, checked once (COMPRESS_SIMD=0
// or novbmi say no).
bool avx512_vbmi();

// r[c] = the sum over the HW pixels of an NHWC image's channel c, c in
// [c0, c1), in pixel order as a plain loop adds them (a GlobalAveragePool's
// sums before the division); 64 channels at a time.
void channel_sums(const Operand& x, float* r, int64_t HW, int64_t C, int64_t c0, int64_t c1);

// out[k] = table[in[k]] over bytes (an int8 activation's codes); needs
// avx512_vbmi().
void lookup_bytes(const uint8_t* in, uint8_t* out, int64_t n, const uint8_t* table);

// Operands whose `hswish` is set (an int8 h-swish read as codes) need
// avx512_vbmi(): binary() (either operand, not both), per_channel_mul(),
// channel_sums() and this one take them.
// y[k] = the h-swish's floats (HardSwishOnCodes::apply).
void hswish_floats(const Operand& x, float* y, int64_t n);
// One image's three planes of bytes [3, P] to pixels [P, 3] (an image's
// codes NCHW -> NHWC, for the first conv): 64 pixels per step, three byte
// permutes per 64 output bytes, where the portable loop stores byte by byte
// at a stride of 3 (100 us for a 320x320 image on this machine). Needs
// avx512_vbmi().
void planes3_to_pixels(const uint8_t* src, uint8_t* dst, int64_t P);

}  // namespace compress::runtime::simd
