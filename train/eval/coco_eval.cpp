#include "train/eval/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>

#include "train/util/error.h"

namespace compress {
namespace {

constexpr int kT = 10;   // IoU thresholds
constexpr int kR = 101;  // recall thresholds
constexpr int kA = 4;    // area ranges: all, small, medium, large
constexpr int kM = 3;    // maxDets 1, 10, 100
constexpr int kMaxDets[kM] = {1, 10, 100};
constexpr double kAreaRng[kA][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};

// np.linspace(start, stop, num): y_i = i * ((stop - start) / (num - 1)) + start, y_last = stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> y(num);
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) y[i] = i * step + start;
  y[num - 1] = stop;
  return y;
}

struct Gt {
  int64_t id;
  double bbox[4];
  double area;
  bool crowd;
};
struct Dt {
  int64_t id;  // 1-based position in the results file, as loadRes assigns
  double bbox[4];
  double area;
  double score;
};

// evaluateImg's output for one (image, category, area range).
struct ImgEval {
  bool valid = false;
  std::vector<double> scores;       // (D) sorted by score, desc
  std::vector<int64_t> dt_matches;  // (T, D) matched GT id or 0
  std::vector<uint8_t> dt_ignore;   // (T, D)
  std::vector<uint8_t> gt_ignore;   // (G) in gt order after the ignore sort
  int D = 0;
};

// Stable descending-score order (np.argsort(-score, kind='mergesort')).
template <typename Getter>
std::vector<int> argsort_desc(int n, Getter score) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score(a) > score(b); });
  return idx;
}

void evaluate_img(const std::vector<Gt>& gt_all, const std::vector<Dt>& dt_sorted,
                  const std::vector<double>& ious /*(D, G) in gt_all order*/, int G_all, const double* rng,
                  const std::vector<double>& iou_thrs, ImgEval& out) {
  const int G = static_cast<int>(gt_all.size());
  // _ignore flag, then a stable sort that puts non-ignored GT first.
  std::vector<uint8_t> ig(G);
  for (int g = 0; g < G; ++g) ig[g] = gt_all[g].crowd || gt_all[g].area < rng[0] || gt_all[g].area > rng[1];
  std::vector<int> gtind(G);
  std::iota(gtind.begin(), gtind.end(), 0);
  std::stable_sort(gtind.begin(), gtind.end(), [&](int a, int b) { return ig[a] < ig[b]; });
  const int D = std::min<int>(static_cast<int>(dt_sorted.size()), kMaxDets[kM - 1]);

  out.valid = true;
  out.D = D;
  out.scores.resize(D);
  for (int d = 0; d < D; ++d) out.scores[d] = dt_sorted[d].score;
  out.gt_ignore.resize(G);
  for (int g = 0; g < G; ++g) out.gt_ignore[g] = ig[gtind[g]];
  out.dt_matches.assign(static_cast<size_t>(kT) * D, 0);
  out.dt_ignore.assign(static_cast<size_t>(kT) * D, 0);
  std::vector<int64_t> gtm(static_cast<size_t>(kT) * G, 0);

  if (G > 0 && D > 0) {
    for (int t = 0; t < kT; ++t) {
      for (int d = 0; d < D; ++d) {
        double iou = std::min(iou_thrs[t], 1 - 1e-10);
        int m = -1;
        for (int gi = 0; gi < G; ++gi) {
          const int g = gtind[gi];
          // An already matched GT is only reusable if it is a crowd.
          if (gtm[t * G + gi] > 0 && !gt_all[g].crowd) continue;
          // Once matched to a real GT, stop before the ignored ones.
          if (m > -1 && out.gt_ignore[m] == 0 && out.gt_ignore[gi] == 1) break;
          const double v = ious[static_cast<size_t>(d) * G_all + g];
          if (v < iou) continue;
          iou = v;
          m = gi;
        }
        if (m == -1) continue;
        out.dt_ignore[t * D + d] = out.gt_ignore[m];
        out.dt_matches[t * D + d] = gt_all[gtind[m]].id;
        gtm[t * G + m] = dt_sorted[d].id;
      }
    }
  }
  // Unmatched detections outside the area range are ignored too.
  for (int t = 0; t < kT; ++t)
    for (int d = 0; d < D; ++d) {
      const bool outside = dt_sorted[d].area < rng[0] || dt_sorted[d].area > rng[1];
      if (out.dt_matches[t * D + d] == 0 && outside) out.dt_ignore[t * D + d] = 1;
    }
}

}  // namespace

// maskApi.c bbIou for one pair; crowd GT divides by the detection's area only.
double coco_box_iou(const double* d, const double* g, bool crowd) {
  const double w = std::min(d[0] + d[2], g[0] + g[2]) - std::max(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::min(d[1] + d[3], g[1] + g[3]) - std::max(d[1], g[1]);
  if (h <= 0) return 0;
  const double inter = w * h;
  const double u = crowd ? d[2] * d[3] : d[2] * d[3] + g[2] * g[3] - inter;
  return inter / u;
}

const std::array<const char*, 12>& CocoStats::names() {
  static const std::array<const char*, 12> n = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                                "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  return n;
}

nlohmann::json CocoStats::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (size_t i = 0; i < values.size(); ++i) j[names()[i]] = values[i];
  return j;
}

std::string CocoStats::table() const {
  static const struct {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  } rows[12] = {
      {true, "0.50:0.95", "all", 100},    {true, "0.50", "all", 100},          {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100},  {true, "0.50:0.95", "medium", 100},  {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},     {false, "0.50:0.95", "all", 10},     {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100}, {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100}};
  std::string out;
  char buf[160];
  for (int i = 0; i < 12; ++i) {
    std::snprintf(buf, sizeof(buf), " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  rows[i].ap ? "Average Precision" : "Average Recall", rows[i].ap ? "(AP)" : "(AR)", rows[i].iou,
                  rows[i].area, rows[i].max_dets, values[i]);
    out += buf;
  }
  return out;
}

std::string CocoEvalResult::classwise_table() const {
  size_t w = 8;
  for (const auto& n : category_names) w = std::max(w, n.size());
  auto cell = [](double v) {
    char b[16];
    if (v < 0) return std::string("     -");
    std::snprintf(b, sizeof(b), "%6.2f", 100 * v);
    return std::string(b);
  };
  auto pad = [&](std::string s) { return s + std::string(w - std::min(w, s.size()), ' '); };
  std::string out = pad("category") + "      AP    AP50  GT boxes\n";
  char buf[64];
  for (size_t k = 0; k < category_ids.size(); ++k) {
    std::snprintf(buf, sizeof(buf), "  %8lld\n", static_cast<long long>(per_category_gt[k]));
    out += pad(category_names[k]) + "  " + cell(per_category_ap[k]) + "  " + cell(per_category_ap50[k]) + buf;
  }
  out += pad("(mean)") + "  " + cell(stats.ap()) + "  " + cell(stats.ap50()) + "\n";
  return out;
}

nlohmann::json CocoEvalResult::classwise_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (size_t k = 0; k < category_ids.size(); ++k)
    j.push_back({{"id", category_ids[k]},
                 {"name", category_names[k]},
                 {"AP", per_category_ap[k]},
                 {"AP50", per_category_ap50[k]},
                 {"gt", per_category_gt[k]}});
  return j;
}

CocoEvalResult evaluate_coco(const CocoFile& gt, const std::vector<CocoDetection>& dets) {
  const std::vector<double> iou_thrs = linspace(0.5, 0.95, kT);
  const std::vector<double> rec_thrs = linspace(0.0, 1.0, kR);

  std::vector<int64_t> img_ids, cat_ids;
  for (const auto& im : gt.images) img_ids.push_back(im.id);
  for (const auto& c : gt.categories) cat_ids.push_back(c.id);
  std::sort(img_ids.begin(), img_ids.end());
  img_ids.erase(std::unique(img_ids.begin(), img_ids.end()), img_ids.end());
  std::sort(cat_ids.begin(), cat_ids.end());
  std::unordered_map<int64_t, int> img_index, cat_index;
  for (size_t i = 0; i < img_ids.size(); ++i) img_index[img_ids[i]] = static_cast<int>(i);
  for (size_t k = 0; k < cat_ids.size(); ++k) cat_index[cat_ids[k]] = static_cast<int>(k);
  const int I = static_cast<int>(img_ids.size()), K = static_cast<int>(cat_ids.size());

  // Group GT and detections per (image, category), keeping file order (ties depend on it).
  std::vector<std::vector<Gt>> gts(static_cast<size_t>(I) * K);
  std::vector<std::vector<Dt>> dts(static_cast<size_t>(I) * K);
  for (const auto& a : gt.annotations) {
    const auto ii = img_index.find(a.image_id);
    const auto kk = cat_index.find(a.category_id);
    if (ii == img_index.end() || kk == cat_index.end()) continue;
    Gt g{a.id, {a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3]}, a.area, a.iscrowd};
    gts[static_cast<size_t>(ii->second) * K + kk->second].push_back(g);
  }
  for (size_t n = 0; n < dets.size(); ++n) {
    const auto& d = dets[n];
    const auto ii = img_index.find(d.image_id);
    if (ii == img_index.end())
      fail("detection ", n, " refers to image id ", d.image_id, ", which is not in the ground truth '", gt.path, "'");
    const auto kk = cat_index.find(d.category_id);
    if (kk == cat_index.end()) continue;
    Dt t{static_cast<int64_t>(n + 1), {d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]}, d.bbox[2] * d.bbox[3], d.score};
    dts[static_cast<size_t>(ii->second) * K + kk->second].push_back(t);
  }

  // evalImgs[k][a][i]
  std::vector<ImgEval> evals(static_cast<size_t>(K) * kA * I);
  for (int k = 0; k < K; ++k) {
    for (int i = 0; i < I; ++i) {
      const auto& g = gts[static_cast<size_t>(i) * K + k];
      const auto& dt_raw = dts[static_cast<size_t>(i) * K + k];
      if (g.empty() && dt_raw.empty()) continue;
      const auto order = argsort_desc(static_cast<int>(dt_raw.size()), [&](int j) { return dt_raw[j].score; });
      std::vector<Dt> dt;
      for (size_t j = 0; j < order.size() && j < static_cast<size_t>(kMaxDets[kM - 1]); ++j)
        dt.push_back(dt_raw[order[j]]);
      const int G = static_cast<int>(g.size());
      std::vector<double> ious(dt.size() * G);
      for (size_t d = 0; d < dt.size(); ++d)
        for (int gg = 0; gg < G; ++gg) ious[d * G + gg] = coco_box_iou(dt[d].bbox, g[gg].bbox, g[gg].crowd);
      for (int a = 0; a < kA; ++a)
        evaluate_img(g, dt, ious, G, kAreaRng[a], iou_thrs, evals[(static_cast<size_t>(k) * kA + a) * I + i]);
    }
  }

  // accumulate(): precision (T, R, K, A, M) and recall (T, K, A, M), -1 = undefined.
  std::vector<double> precision(static_cast<size_t>(kT) * kR * K * kA * kM, -1.0);
  std::vector<double> recall(static_cast<size_t>(kT) * K * kA * kM, -1.0);
  auto P = [&](int t, int r, int k, int a, int m) -> double& {
    return precision[(((static_cast<size_t>(t) * kR + r) * K + k) * kA + a) * kM + m];
  };
  auto Rc = [&](int t, int k, int a, int m) -> double& {
    return recall[((static_cast<size_t>(t) * K + k) * kA + a) * kM + m];
  };
  const double eps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  for (int k = 0; k < K; ++k) {
    for (int a = 0; a < kA; ++a) {
      for (int m = 0; m < kM; ++m) {
        const int max_det = kMaxDets[m];
        std::vector<double> scores;
        std::vector<std::pair<int, int>> where;  // (eval index, det index)
        int npig = 0;
        bool any = false;
        for (int i = 0; i < I; ++i) {
          const ImgEval& e = evals[(static_cast<size_t>(k) * kA + a) * I + i];
          if (!e.valid) continue;
          any = true;
          const int n = std::min(e.D, max_det);
          for (int d = 0; d < n; ++d) {
            scores.push_back(e.scores[d]);
            where.emplace_back((k * kA + a) * I + i, d);
          }
          for (uint8_t ig : e.gt_ignore) npig += ig == 0;
        }
        if (!any || npig == 0) continue;
        const auto inds = argsort_desc(static_cast<int>(scores.size()), [&](int j) { return scores[j]; });
        const int nd = static_cast<int>(inds.size());
        for (int t = 0; t < kT; ++t) {
          std::vector<double> tp(nd), fp(nd);
          double tps = 0, fps = 0;
          for (int j = 0; j < nd; ++j) {
            const auto [ei, d] = where[inds[j]];
            const ImgEval& e = evals[ei];
            const bool matched = e.dt_matches[t * e.D + d] != 0;
            const bool ignored = e.dt_ignore[t * e.D + d] != 0;
            tps += (matched && !ignored);
            fps += (!matched && !ignored);
            tp[j] = tps;
            fp[j] = fps;
          }
          std::vector<double> rc(nd), pr(nd);
          for (int j = 0; j < nd; ++j) {
            rc[j] = tp[j] / npig;
            pr[j] = tp[j] / (fp[j] + tp[j] + eps);
          }
          Rc(t, k, a, m) = nd ? rc[nd - 1] : 0;
          // Make precision monotonically decreasing (the interpolation envelope).
          for (int j = nd - 1; j > 0; --j)
            if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          for (int r = 0; r < kR; ++r) {
            // searchsorted(rc, thr, side='left'): first j with rc[j] >= thr.
            const int j = static_cast<int>(std::lower_bound(rc.begin(), rc.end(), rec_thrs[r]) - rc.begin());
            if (j >= nd) {
              // pycocotools stops filling at the first threshold past the last recall.
              for (int rr = r; rr < kR; ++rr) P(t, rr, k, a, m) = 0;
              break;
            }
            P(t, r, k, a, m) = pr[j];
          }
        }
      }
    }
  }

  // summarize()
  auto mean_valid = [](const std::vector<double>& v) {
    double s = 0;
    int n = 0;
    for (double x : v)
      if (x > -1) {
        s += x;
        ++n;
      }
    return n ? s / n : -1.0;
  };
  auto ap = [&](int t_only, int a, int m) {
    std::vector<double> v;
    for (int t = 0; t < kT; ++t) {
      if (t_only >= 0 && t != t_only) continue;
      for (int r = 0; r < kR; ++r)
        for (int k = 0; k < K; ++k) v.push_back(P(t, r, k, a, m));
    }
    return mean_valid(v);
  };
  auto ar = [&](int a, int m) {
    std::vector<double> v;
    for (int t = 0; t < kT; ++t)
      for (int k = 0; k < K; ++k) v.push_back(Rc(t, k, a, m));
    return mean_valid(v);
  };
  CocoEvalResult res;
  auto& s = res.stats.values;
  s = {ap(-1, 0, 2), ap(0, 0, 2), ap(5, 0, 2), ap(-1, 1, 2), ap(-1, 2, 2), ap(-1, 3, 2),
       ar(0, 0),     ar(0, 1),    ar(0, 2),    ar(1, 2),     ar(2, 2),     ar(3, 2)};
  res.category_ids = cat_ids;
  std::unordered_map<int64_t, std::string> names;
  for (const auto& c : gt.categories) names[c.id] = c.name;
  for (int k = 0; k < K; ++k) {
    int64_t boxes = 0;  // non-crowd GT of category k, from the per-(image, category) groups
    for (int i = 0; i < I; ++i)
      for (const auto& g : gts[static_cast<size_t>(i) * K + k]) boxes += g.crowd ? 0 : 1;
    std::vector<double> v, v50;
    for (int t = 0; t < kT; ++t)
      for (int r = 0; r < kR; ++r) (t == 0 ? v50 : v).push_back(P(t, r, k, 0, 2));
    v.insert(v.end(), v50.begin(), v50.end());
    res.per_category_ap.push_back(mean_valid(v));
    res.per_category_ap50.push_back(mean_valid(v50));
    res.category_names.push_back(names[cat_ids[static_cast<size_t>(k)]]);
    res.per_category_gt.push_back(boxes);
  }
  return res;
}

}  // namespace compress
