// "Did you mean ...?" for unknown keys, flags and parameter names.
#pragma once
#include <string>
#include <vector>

namespace compress {

// Levenshtein edit distance between two strings.
size_t edit_distance(const std::string& a, const std::string& b);

// Up to `max_n` candidates closest to `name`, nearest first; only those within a
// distance a typo could explain (max(2, |name|/3)) unless `always` is set.
std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max_n = 3, bool always = false);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace compress
