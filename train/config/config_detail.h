// What the parts of config loading share (validate.cpp, config.cpp,
// overrides.cpp); not for use outside train/config/.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "train/config/schema.h"

namespace compress::config::detail {

std::string join_path(const std::string& a, const std::string& b);  // "a.b", or "b" when a is empty
std::vector<std::string> split(const std::string& s, char sep);
std::string describe(const YAML::Node& n);  // "'x'", "a list", "a map" ... for errors
bool value_matches(const YAML::Node& n, Type t);
// The type name of a typed map (its `type` key or YAML tag); "" if none.
std::string variant_of(const YAML::Node& n);
// YAML tags (`!ResizeImage {...}`) turned into `type` keys, recursively.
YAML::Node normalize_tags(const YAML::Node& n, const std::string& where, const std::string& path = "", int depth = 0);

// Later wins: maps merge key by key, everything else is replaced.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over, const Field& f);
// `n` with every key the schema `f` has and `n` lacks set to its default.
YAML::Node with_defaults(const YAML::Node& n, const Field& f);

// Sets `key` (a dotted path; typed lists by index or type name) of `root` to
// `value`, validated against the schema at that key; errors name `where`.
void assign(YAML::Node root, const std::string& key, const YAML::Node& value, const std::string& where);

}  // namespace compress::config::detail
