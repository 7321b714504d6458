// Validation of a YAML document against the schema: every key known, every
// value of its type and within its bounds, typed maps and lists by their type
// names; errors name the file and the key path.
#include <filesystem>
#include <set>
#include <sstream>

#include "train/config/config.h"
#include "train/config/config_detail.h"
#include "train/config/schema.h"
#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress::config {

namespace detail {

std::string join_path(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string describe(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "nothing";
}

template <typename T>
bool scalar_is(const YAML::Node& n) {
  if (!n.IsScalar()) return false;
  T v;
  return YAML::convert<T>::decode(n, v);
}

bool scalar_matches(const YAML::Node& n, Type t) {
  switch (t) {
    case Type::Int:
      return scalar_is<int64_t>(n);
    case Type::Float:
      return scalar_is<double>(n);
    case Type::Bool:
      return scalar_is<bool>(n);
    case Type::String:
      return n.IsScalar();
    default:
      return false;
  }
}

Type element_type(Type list) {
  switch (list) {
    case Type::IntList:
      return Type::Int;
    case Type::FloatList:
      return Type::Float;
    case Type::StringList:
      return Type::String;
    case Type::IntListList:
      return Type::IntList;
    case Type::FloatListList:
      return Type::FloatList;
    default:
      return Type::String;
  }
}

bool value_matches(const YAML::Node& n, Type t) {
  switch (t) {
    case Type::Int:
    case Type::Float:
    case Type::Bool:
    case Type::String:
      return scalar_matches(n, t);
    case Type::IntList:
    case Type::FloatList:
    case Type::StringList:
    case Type::IntListList:
    case Type::FloatListList: {
      if (!n.IsSequence()) return false;
      for (const auto& e : n)
        if (!value_matches(e, element_type(t))) return false;
      return true;
    }
    default:
      return false;
  }
}

// The variant name of a typed map: its YAML tag (`!ExpandImage`) or its `type` key.
std::string variant_of(const YAML::Node& n) {
  const std::string& tag = n.Tag();
  if (tag.size() > 1 && tag[0] == '!') return tag.substr(1);
  if (n.IsMap() && n["type"] && n["type"].IsScalar()) return n["type"].Scalar();
  return "";
}

// Deeper than any recipe nests (section, list, typed map, list of lists): a
// deeper document is an alias that contains itself (`a: &a [*a]`), which
// yaml-cpp builds as a cycle.
constexpr int kMaxYamlDepth = 32;

// Turns `!Name {k: v}` into `{type: Name, k: v}` everywhere, so merging and
// printing see one spelling. `where` and `path` name the file and key for errors.
YAML::Node normalize_tags(const YAML::Node& n, const std::string& where, const std::string& path, int depth) {
  if (depth > kMaxYamlDepth)
    fail(where, ": key '", path.size() > 40 ? path.substr(0, 40) + "..." : path, "' nests more than ", kMaxYamlDepth,
         " levels deep (an alias that refers to itself, like `a: &a [*a]`?)");
  const std::string tag = n.Tag();
  YAML::Node out;
  if (n.IsMap()) {
    out = YAML::Node(YAML::NodeType::Map);
    if (tag.size() > 1 && tag[0] == '!') out["type"] = tag.substr(1);
    for (const auto& kv : n) {
      if (!kv.first.IsScalar())
        fail(where, ": key '", path, "': a map key must be a plain name, got ", describe(kv.first));
      const std::string key = kv.first.Scalar();
      out[key] = normalize_tags(kv.second, where, join_path(path, key), depth + 1);
    }
  } else if (n.IsSequence()) {
    out = YAML::Node(YAML::NodeType::Sequence);
    size_t i = 0;
    for (const auto& e : n) out.push_back(normalize_tags(e, where, join_path(path, std::to_string(i++)), depth + 1));
    out.SetStyle(n.Style());
  } else if (tag.size() > 1 && tag[0] == '!' && (n.IsNull() || (n.IsScalar() && n.Scalar().empty()))) {
    out = YAML::Node(YAML::NodeType::Map);  // `- !DecodeImage` with no body
    out["type"] = tag.substr(1);
  } else {
    out = YAML::Clone(n);
    if (out.IsScalar() || out.IsNull()) out.SetTag("");
  }
  return out;
}

void validate_typed_map(const YAML::Node& n, const Field& f, const std::string& path, const std::string& where) {
  if (!n.IsMap()) fail(where, ": key '", path, "': expected ", type_name(f.type), ", got ", describe(n));
  const std::string name = variant_of(n);
  const Field* v = f.variant(name.empty() ? f.default_type : name);
  if (!v) {
    std::string valid;
    for (const auto& c : f.variant_names()) valid += (valid.empty() ? "" : ", ") + c;
    fail(where, ": key '", path, "': unknown type '", name, "'", did_you_mean(name, f.variant_names()),
         " (valid: ", valid, ")");
  }
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (key == "type") continue;
    if (!v->child(key))
      fail(where, ": unknown key '", join_path(path, key), "' for ", name.empty() ? f.default_type : name,
           did_you_mean(key, v->child_names()));
    config::validate(kv.second, *v->child(key), join_path(path, key), where);
  }
}

// `n` already has f's type: a number, or a (nested) list of numbers.
void check_bounds(const YAML::Node& n, const Field& f, const std::string& path, const std::string& where) {
  if (n.IsSequence()) {
    for (const auto& e : n) check_bounds(e, f, path, where);
    return;
  }
  const double v = n.as<double>();
  if (v >= f.min_value && v <= f.max_value) return;
  fail(where, ": key '", path, "'", f.type == Type::Int || f.type == Type::Float ? "" : " (every element)", " must be ",
       f.range_text(), ", got ", n.Scalar());
}

}  // namespace detail

using namespace detail;

void validate(const YAML::Node& n, const Field& f, const std::string& path, const std::string& where) {
  switch (f.type) {
    case Type::Section: {
      if (n.IsNull()) return;
      if (!n.IsMap()) fail(where, ": key '", path, "': expected a map, got ", describe(n));
      for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        if (path.empty() && key == "_BASE_") continue;
        const Field* c = f.child(key);
        if (!c) fail(where, ": unknown key '", join_path(path, key), "'", did_you_mean(key, f.child_names()));
        validate(kv.second, *c, join_path(path, key), where);
      }
      return;
    }
    case Type::TypedMap:
      validate_typed_map(n, f, path, where);
      return;
    case Type::TypedList: {
      if (!n.IsSequence()) fail(where, ": key '", path, "': expected a list of typed maps, got ", describe(n));
      for (size_t i = 0; i < n.size(); ++i) validate_typed_map(n[i], f, path + "." + std::to_string(i), where);
      return;
    }
    default:
      if (!value_matches(n, f.type))
        fail(where, ": key '", path, "': expected ", type_name(f.type), ", got ", describe(n));
      if (f.bounded()) check_bounds(n, f, path, where);
      if (f.type == Type::String && !f.choices.empty()) {
        const std::string v = n.Scalar();
        if (std::find(f.choices.begin(), f.choices.end(), v) == f.choices.end()) {
          std::string valid;
          for (const auto& c : f.choices) valid += (valid.empty() ? "" : ", ") + c;
          fail(where, ": key '", path, "': invalid value '", v, "'", did_you_mean(v, f.choices), " (valid: ", valid,
               ")");
        }
      }
  }
}

}  // namespace compress::config
