// The reference's channel choice, computed naively and independently of
// compress/prune: per-filter scores in double loops over a conv weight
// (O, I, kh, kw), the number removed as Python's round (ties to even), and the
// lowest scores removed. PaddleSlim 1.x scores only the named parameter.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace testutil {

// One row of doubles per output filter.
inline std::vector<std::vector<double>> filters_of(const torch::Tensor& w) {
  const auto f = w.detach().to(torch::kDouble).reshape({w.size(0), -1}).contiguous();
  std::vector<std::vector<double>> rows(static_cast<size_t>(f.size(0)));
  const double* p = f.data_ptr<double>();
  for (int64_t o = 0; o < f.size(0); ++o)
    rows[static_cast<size_t>(o)].assign(p + o * f.size(1), p + (o + 1) * f.size(1));
  return rows;
}

inline std::vector<double> naive_l1(const torch::Tensor& w) {
  std::vector<double> s;
  for (const auto& r : filters_of(w)) {
    double a = 0;
    for (double v : r) a += std::fabs(v);
    s.push_back(a);
  }
  return s;
}

// FPGM: a filter's summed Euclidean distance to every filter of the layer;
// the filters nearest the geometric median (smallest sums) go first.
inline std::vector<double> naive_fpgm(const torch::Tensor& w) {
  const auto rows = filters_of(w);
  std::vector<double> s(rows.size(), 0.0);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows.size(); ++j) {
      double d = 0;
      for (size_t k = 0; k < rows[i].size(); ++k) d += (rows[i][k] - rows[j][k]) * (rows[i][k] - rows[j][k]);
      s[i] += std::sqrt(d);
    }
  return s;
}

inline std::vector<double> naive_score(const std::string& criterion, const torch::Tensor& w) {
  return criterion == "l1_norm" ? naive_l1(w) : naive_fpgm(w);
}

// Python's round(x): to nearest, ties to even.
inline int64_t python_round(double x) {
  const double f = std::floor(x), frac = x - f;
  if (frac > 0.5) return static_cast<int64_t>(f) + 1;
  if (frac < 0.5) return static_cast<int64_t>(f);
  return static_cast<int64_t>(f) % 2 == 0 ? static_cast<int64_t>(f) : static_cast<int64_t>(f) + 1;
}

// Kept indices (ascending) after removing round(n * ratio) lowest-scored channels.
inline std::vector<int64_t> naive_kept(const std::vector<double>& score, double ratio) {
  const int64_t n = static_cast<int64_t>(score.size());
  const int64_t remove = std::min(n - 1, python_round(static_cast<double>(n) * ratio));
  std::vector<int64_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
  std::vector<int64_t> keep(order.begin() + remove, order.end());
  std::sort(keep.begin(), keep.end());
  return keep;
}

}  // namespace testutil
