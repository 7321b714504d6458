#include "compress/runtime/value.h"

#include "compress/runtime/parallel.h"
#include "compress/runtime/simd_int8.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace compress::runtime {

namespace {
// Freed blocks by size, reused by the next run: a graph allocates the same
// sizes every run, so after the first one nothing is allocated or faulted in.
// (Fresh blocks every run cost the int8 SSDLite-Large 2x in page faults.)
// Graphs with data-dependent shapes (Cascade R-CNN's RoIs) allocate new sizes
// every run: blocks come in size classes (eight per power of two above 4 KiB,
// at most 12.5% unused) so that a run's slightly different sizes reuse the
// last run's blocks, and idle blocks are capped so that the pool cannot grow
// without end.
constexpr size_t kIdleCap = size_t{32} << 20;
size_t size_class(size_t n) {
  if (n <= 4096) return (n + 63) / 64 * 64;
  size_t top = 4096;  // the largest power of two <= n
  while (top <= n / 2) top *= 2;
  const size_t step = top / 8;
  return (n + step - 1) / step * step;
}
// Blocks carved in order from chunks on 2 MiB pages (transparent huge
// pages, asked for with madvise; where the kernel gives none, plain pages).
// A model's activations are a few MiB touched layer after layer: on 4 KiB
// pages each pass misses the TLB every 4 KiB, which cost 4-5% of the int8
// SSDLite-Large's and pruned YOLOv3's time (docs/runtime.md, "Huge pages").
// A block never goes back to a chunk: it waits in the pool for the next
// request of its size class, like any block; the chunks go when no block of
// theirs is in use and the idle blocks are released. Up to
// COMPRESS_HUGE_PAGES_MB (default 16; 0: none) in all, past which blocks
// come from malloc: a chunk's blocks stay in the pool for their size class,
// and 2 MiB pages commit a block's unused tail too, so the float models'
// peak memory grew 4-6 MiB at 16 and 10-25 MiB at 64 (the int8 ones' hot
// tensors fit in 16).
struct Arena {
  static constexpr size_t kChunk = size_t{16} << 20, kPage = size_t{2} << 20;
  std::vector<uint8_t*> chunks;
  size_t used = 0;  // bytes handed out of the last chunk
  size_t live = 0;  // its blocks in use (not idle in the pool)
  size_t cap() const {
    static const size_t v = [] {
      const char* e = std::getenv("COMPRESS_HUGE_PAGES_MB");
      return (e && *e ? static_cast<size_t>(std::atoll(e)) : size_t{16}) << 20;
    }();
    return v;
  }
  bool owns(const uint8_t* p) const {
    return std::any_of(chunks.begin(), chunks.end(), [&](const uint8_t* c) { return p >= c && p < c + kChunk; });
  }
  uint8_t* take(size_t n) {
    if (n == 0 || n > kChunk) return nullptr;  // (an empty block would share its address)
    if (chunks.empty() || used + n > kChunk) {
      if ((chunks.size() + 1) * kChunk > cap()) return nullptr;
      // Fresh pages from mmap, aligned to 2 MiB by trimming the ends, and
      // madvised before anything touches them: memory malloc hands back is
      // often already faulted in as 4 KiB pages, which the hint no longer
      // changes (glibc moves its mmap threshold up once a big block is freed).
      void* m = mmap(nullptr, kChunk + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      auto* raw = static_cast<uint8_t*>(m);
      auto* c = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + kPage - 1) / kPage * kPage);
      if (c > raw) munmap(raw, static_cast<size_t>(c - raw));
      if (c + kChunk < raw + kChunk + kPage)
        munmap(c + kChunk, static_cast<size_t>(raw + kChunk + kPage - (c + kChunk)));
      madvise(c, kChunk, MADV_HUGEPAGE);  // a hint: no huge pages is no error
      chunks.push_back(c);
      used = 0;
    }
    uint8_t* p = chunks.back() + used;
    used += n;
    ++live;
    return p;
  }
  void release() {
    for (auto* c : chunks) munmap(c, kChunk);
    chunks.clear();
    used = 0;
  }
};
struct Pool {
  std::mutex m;
  std::map<size_t, std::vector<uint8_t*>> free;
  size_t idle = 0;  // bytes in `free` from malloc (the arena's blocks are bounded by its cap)
  Arena arena;
  ~Pool() {
    for (auto& [n, v] : free)
      for (auto* p : v)
        if (!arena.owns(p)) std::free(p);
    arena.release();
  }
};
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: Buffers may outlive static destruction
  return *p;
}
}  // namespace

void release_idle_buffers() {
  auto& pl = pool();
  std::lock_guard<std::mutex> g(pl.m);
  const bool arena_idle = pl.arena.live == 0;
  for (auto& [n, v] : pl.free) {
    std::vector<uint8_t*> kept;
    for (auto* p : v) {
      if (!pl.arena.owns(p))
        std::free(p);
      else if (!arena_idle)
        kept.push_back(p);
    }
    v.swap(kept);
  }
  if (arena_idle) pl.arena.release();
  pl.idle = 0;
}

Buffer::Buffer(size_t bytes, bool huge_pages) : p_(nullptr), n_(size_class(bytes)) {
  const size_t n = n_;
  auto& pl = pool();
  {
    std::lock_guard<std::mutex> g(pl.m);
    auto it = pl.free.find(n);
    if (it != pl.free.end() && !it->second.empty()) {
      p_ = it->second.back();
      it->second.pop_back();
      if (pl.arena.owns(p_))
        ++pl.arena.live;
      else
        pl.idle -= n;
    } else if (huge_pages) {
      p_ = pl.arena.take(n);
    }
  }
  if (!p_) p_ = static_cast<uint8_t*>(std::malloc(std::max<size_t>(n, 1)));
  if (!p_) throw std::bad_alloc();
}

bool Buffer::huge_pages() const {
  auto& pl = pool();
  std::lock_guard<std::mutex> g(pl.m);
  return !borrowed_ && pl.arena.owns(p_);
}

std::shared_ptr<Buffer> Buffer::borrow(const void* p, size_t n) {
  std::shared_ptr<Buffer> b(new Buffer());
  b->p_ = const_cast<uint8_t*>(static_cast<const uint8_t*>(p));
  b->n_ = n;
  b->borrowed_ = true;
  return b;
}

Buffer::~Buffer() {
  if (borrowed_) return;
  auto& pl = pool();
  std::lock_guard<std::mutex> g(pl.m);
  if (pl.arena.owns(p_)) {
    --pl.arena.live;
    pl.free[n_].push_back(p_);
    return;
  }
  if (pl.idle + n_ > kIdleCap) {
    std::free(p_);
    return;
  }
  pl.free[n_].push_back(p_);
  pl.idle += n_;
}

int64_t Value::numel() const {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

ValuePtr make_value(DType t, std::vector<int64_t> dims, bool nhwc) {
  auto v = std::make_shared<Value>();
  v->type = t;
  v->dims = std::move(dims);
  v->nhwc = nhwc && v->dims.size() == 4;
  v->buf = std::make_shared<Buffer>(v->bytes());
  return v;
}

ValuePtr from_constant(const Constant& c) {
  auto v = std::make_shared<Value>();
  v->type = c.type;
  v->dims = c.dims;
  v->buf = std::make_shared<Buffer>(c.bytes.size(), false);  // read once or twice: no huge pages
  if (!c.bytes.empty()) std::memcpy(v->buf->data(), c.bytes.data(), c.bytes.size());
  return v;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t k = 0; k < d.size(); ++k) s += (k ? "," : "") + std::to_string(d[k]);
  return s + "]";
}

namespace {
template <class T>
__attribute__((target_clones("avx512f", "avx2", "default"))) void dequantize_codes(const T* __restrict x,
                                                                                   float* __restrict y, int64_t n,
                                                                                   float s, int32_t zp) {
  for (int64_t k = 0; k < n; ++k) y[k] = s * static_cast<float>(static_cast<int32_t>(x[k]) - zp);
}
}  // namespace

Operand operand_of(const ValuePtr& v, bool lazy_hswish) {
  Operand o;
  if (v->hswish && !v->buf && !lazy_hswish) materialize(v);
  if (v->deq_of && !v->buf) {
    const auto& q = *v->deq_of;
    o.p = q.buf->data();
    o.type = q.type;
    o.scale = v->scale;
    o.zp = q.type == DType::s8 ? v->zp - (q.zp == 128 ? 128 : 0) : v->zp;
    o.hswish = v->hswish.get();
  } else {
    o.p = v->buf->data();
  }
  return o;
}

Operand offset(Operand o, int64_t k) {
  o.p = static_cast<const char*>(o.p) + k * dtype_size(o.type);
  return o;
}

ValuePtr materialize(const ValuePtr& v) {
  if (!v->deq_of) return v;
  if (v->buf) return v;
  const auto& q = *v->deq_of;
  auto out = make_value(DType::f32, q.dims, q.nhwc);
  float* y = out->data<float>();
  const int64_t n = q.numel();
  const float s = v->scale;
  if (v->hswish) {
    const Operand o = operand_of(v, true);
    if (simd::avx512_vbmi()) {
      parallel_ranges(n, [&](int64_t b, int64_t e) { simd::hswish_floats(offset(o, b), y + b, e - b); });
    } else {
      const auto& h = *v->hswish;
      parallel_ranges(n, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const uint8_t byte = static_cast<const uint8_t*>(o.p)[k];
          const int32_t code = q.type == DType::s8 ? static_cast<int8_t>(byte) : byte;
          y[k] = h.apply(byte, s * static_cast<float>(code - o.zp));
        }
      });
    }
  } else if (q.type == DType::s8) {  // stored codes are (code - 128) for a uint8 zero point 128
    const int32_t zp = v->zp - (q.zp == 128 ? 128 : 0);
    const int8_t* c = q.data<int8_t>();
    parallel_ranges(n, [&](int64_t b, int64_t e) { dequantize_codes(c + b, y + b, e - b, s, zp); });
  } else if (q.type == DType::u8) {
    const uint8_t* c = q.data<uint8_t>();
    const int32_t zp = v->zp;
    parallel_ranges(n, [&](int64_t b, int64_t e) { dequantize_codes(c + b, y + b, e - b, s, zp); });
  } else {
    throw std::runtime_error("runtime: a DequantizeLinear input of type " + std::string(dtype_name(q.type)));
  }
  v->buf = out->buf;
  v->type = DType::f32;
  v->nhwc = q.nhwc;
  return v;
}

namespace {
// Copies a 4-D tensor between NCHW and NHWC (to_nhwc: nchw -> nhwc), typed so
// that the copy is a plain load and store (the int8 image before the stem
// conv: 300 K elements).
template <class T>
void permute4_typed(const T* __restrict src, T* __restrict dst, const std::vector<int64_t>& d, bool to_nhwc) {
  const int64_t N = d[0], C = d[1], HW = d[2] * d[3];
  for (int64_t n = 0; n < N; ++n) {
    const T* s = src + n * C * HW;
    T* t = dst + n * C * HW;
    if (to_nhwc) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < HW; ++p) t[p * C + c] = s[c * HW + p];
    } else {
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) t[c * HW + p] = s[p * C + c];
    }
  }
}

void permute4(const uint8_t* src, uint8_t* dst, const std::vector<int64_t>& d, size_t es, bool to_nhwc) {
  switch (es) {
    case 1:
      return permute4_typed(src, dst, d, to_nhwc);
    case 4:
      return permute4_typed(reinterpret_cast<const uint32_t*>(src), reinterpret_cast<uint32_t*>(dst), d, to_nhwc);
    case 8:
      return permute4_typed(reinterpret_cast<const uint64_t*>(src), reinterpret_cast<uint64_t*>(dst), d, to_nhwc);
    default:
      throw std::runtime_error("runtime: a layout change of " + std::to_string(es) + "-byte elements");
  }
}
}  // namespace

ValuePtr to_nchw(const ValuePtr& v_in) {
  auto v = v_in->deq_of ? materialize(v_in) : v_in;
  if (!v->nhwc || v->dims[1] == 1 || v->dims[2] * v->dims[3] == 1) {
    if (!v->nhwc) return v;
    auto same = std::make_shared<Value>(*v);  // one channel or 1x1: the bytes are the same
    same->nhwc = false;
    return same;
  }
  auto out = std::make_shared<Value>(*v);
  out->nhwc = false;
  out->buf = std::make_shared<Buffer>(v->bytes());
  permute4(v->buf->data(), out->buf->data(), v->dims, dtype_size(v->type), false);
  return out;
}

ValuePtr to_nhwc(const ValuePtr& v) {
  if (v->dims.size() != 4) throw std::runtime_error("runtime: to_nhwc of a " + dims_str(v->dims) + " tensor");
  if (v->nhwc) return v;
  auto out = std::make_shared<Value>(*v);
  out->nhwc = true;
  if (v->dims[1] == 1 || v->dims[2] * v->dims[3] == 1) return out;
  out->buf = std::make_shared<Buffer>(v->bytes());
  if (dtype_size(v->type) == 1 && v->dims[1] == 3 && simd::avx512_vbmi()) {  // an image's codes
    const int64_t P = v->dims[2] * v->dims[3];
    for (int64_t n = 0; n < v->dims[0]; ++n)
      simd::planes3_to_pixels(v->buf->data() + n * 3 * P, out->buf->data() + n * 3 * P, P);
    return out;
  }
  permute4(v->buf->data(), out->buf->data(), v->dims, dtype_size(v->type), true);
  return out;
}

}  // namespace compress::runtime
