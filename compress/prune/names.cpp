#include "compress/prune/names.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress::prune {

std::vector<std::string> split_list(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) usage_fail(what, ": empty item in '", text, "'");
    out.push_back(item);
    start = end + 1;
  }
  return out;
}

std::vector<double> parse_ratios(const std::vector<std::string>& items, const std::string& what) {
  std::vector<double> r;
  for (const auto& s : items) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') usage_fail(what, ": '", s, "' is not a number");
    if (!(v >= 0.0 && v < 1.0)) usage_fail(what, ": ", s, " is outside [0, 1) (the fraction of channels removed)");
    r.push_back(v);
  }
  return r;
}

bool glob_match(const std::string& p, const std::string& t) {
  // Iterative matcher with backtracking to the last '*'.
  size_t i = 0, j = 0, star = std::string::npos, mark = 0;
  while (j < t.size()) {
    if (i < p.size() && p[i] == t[j]) {
      ++i;
      ++j;
    } else if (i < p.size() && p[i] == '*') {
      star = i++;
      mark = j;
    } else if (star != std::string::npos) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.size() && p[i] == '*') ++i;
  return i == p.size();
}

std::vector<PruneSpec> resolve_specs(const std::vector<std::string>& names, const std::vector<double>& ratios,
                                     const std::vector<std::string>& conv_weights) {
  if (names.empty()) usage_fail("--pruned_params: no parameter named");
  if (ratios.size() != 1 && ratios.size() != names.size())
    usage_fail("--pruned_ratios has ", ratios.size(), " values but --pruned_params names ", names.size(),
               " parameters (give one ratio per name, or one for all)");
  std::vector<PruneSpec> specs;
  std::set<std::string> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string n = names[i];
    // The reference's fluid parameter names end in ".weights".
    if (n.size() > 8 && n.compare(n.size() - 8, 8, ".weights") == 0) n.pop_back();
    std::vector<std::string> hits;
    for (const auto& w : conv_weights)
      if (n.find('*') != std::string::npos ? glob_match(n, w) : n == w) hits.push_back(w);
    if (hits.empty()) {
      std::string close;
      for (const auto& c : closest_names(n, conv_weights, 3, /*always=*/true)) close += (close.empty() ? "" : ", ") + c;
      fail("--pruned_params: '", names[i], "' ", n.find('*') != std::string::npos ? "matches no" : "is not a",
           " conv weight of the model; closest: ", close);
    }
    for (const auto& w : hits) {
      if (!seen.insert(w).second) fail("--pruned_params: '", w, "' is named twice");
      specs.push_back({w.substr(0, w.size() - 7), ratios.size() == 1 ? ratios[0] : ratios[i]});
    }
  }
  return specs;
}

}  // namespace compress::prune
