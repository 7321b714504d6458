// How much a second thread buys on this machine, for the kinds of work the
// runtime splits: a latency-bound scalar chain, an AVX-512 FMA-bound loop (an
// int8 or f32 conv's inner loop is this), and the cost of one OpenMP fork and
// join. Prints medians of interleaved 1- and 2-thread runs.
//
//   build/bench_thread_scaling
//
// Why it exists: it bounds what 2 threads can give a small conv here. On the
// 2-vCPU machine this project is measured on (2026-12-07, idle): an FMA loop
// of 35 us per run gains 1.6x from a second thread, one of 3.5 us loses
// (0.65x), one OpenMP fork and join costs 3.3 us; and the speed of one
// thread drifts by up to 2x over minutes with the machine's other load, so
// 1- and 2-thread timings are only comparable interleaved (docs/runtime.md).

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

// GCC 12 warns inside its own AVX-512 headers (_mm512_reduce_add_ps): a known
// false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

volatile double sink;

double scalar_chain(long n, int seed) {
  double a = seed, b = 1.0000001;
  for (long i = 0; i < n; ++i) a = a * b + 1e-9;
  return a;
}

__attribute__((target("avx512f"))) double fma_loop(long n, int seed) {
  // 12 independent accumulators: enough to keep both FMA pipes busy.
  __m512 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm512_set1_ps(static_cast<float>(seed + k));
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < n; ++i)
    for (int k = 0; k < 12; ++k) a[k] = _mm512_fmadd_ps(a[k], b, c);
  __m512 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, a[k]);
  return _mm512_reduce_add_ps(s);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double time_us(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

// One kernel over n iterations on 1 thread against n / 2 on each of 2.
void compare(const char* name, const std::function<double(long, int)>& k, long n) {
  std::vector<double> one, two;
  for (int r = 0; r < 301; ++r) {
    one.push_back(time_us([&] { sink = k(n, r); }));
    two.push_back(time_us([&] {
#pragma omp parallel num_threads(2)
      { sink = k(n / 2, omp_get_thread_num()); }
    }));
  }
  const double a = median(one), b = median(two);
  std::printf("| %s | %ld | %.1f | %.1f | %.2fx |\n", name, n, a, b, a / b);
}

}  // namespace

int main() {
  std::printf("| work | iterations | 1 thread (us) | 2 threads (us) | speed-up |\n|---|---|---|---|---|\n");
  for (long n : {20000L, 200000L}) compare("scalar multiply-add chain", scalar_chain, n);
  if (__builtin_cpu_supports("avx512f"))
    for (long n : {2000L, 20000L}) compare("AVX-512 FMA loop", fma_loop, n);
  std::vector<double> fj;
  for (int r = 0; r < 2001; ++r)
    fj.push_back(time_us([] {
#pragma omp parallel num_threads(2)
      { sink = omp_get_thread_num(); }
    }));
  std::printf("\nOpenMP fork and join, 2 threads: %.2f us (median of %zu)\n", median(fj), fj.size());
}
