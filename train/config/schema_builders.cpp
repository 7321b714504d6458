// Field builders and lookups for the config schema.
#include "train/config/schema.h"

#include <cstdio>
#include <limits>
#include <sstream>

namespace compress::config {

const char* type_name(Type t) {
  switch (t) {
    case Type::Int:
      return "int";
    case Type::Float:
      return "float";
    case Type::Bool:
      return "bool";
    case Type::String:
      return "string";
    case Type::IntList:
      return "list of int";
    case Type::FloatList:
      return "list of float";
    case Type::StringList:
      return "list of string";
    case Type::IntListList:
      return "list of lists of int";
    case Type::FloatListList:
      return "list of lists of float";
    case Type::Section:
      return "map";
    case Type::TypedMap:
      return "map with a type";
    case Type::TypedList:
      return "list of typed maps";
  }
  return "?";
}

const Field* Field::child(const std::string& key) const {
  for (const auto& [k, f] : children)
    if (k == key) return &f;
  return nullptr;
}

const Field* Field::variant(const std::string& name) const {
  for (const auto& [k, f] : variants)
    if (k == name) return &f;
  return nullptr;
}

std::vector<std::string> Field::child_names() const {
  std::vector<std::string> out;
  for (const auto& kv : children) out.push_back(kv.first);
  return out;
}

std::vector<std::string> Field::variant_names() const {
  std::vector<std::string> out;
  for (const auto& kv : variants) out.push_back(kv.first);
  return out;
}

namespace {
// 15 significant digits: 0.9 prints as 0.9, not yaml-cpp's 0.90000000000000002.
YAML::Node num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  return YAML::Node(std::string(buf));
}
YAML::Node num(int64_t v) { return YAML::Node(v); }
YAML::Node num(const std::string& v) { return YAML::Node(v); }
Field make(Type t, YAML::Node def, std::string doc) {
  Field f;
  f.type = t;
  f.default_value = std::move(def);
  f.doc = std::move(doc);
  return f;
}
template <typename T>
YAML::Node seq(const std::vector<T>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : v) n.push_back(num(x));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}
template <typename T>
YAML::Node seq2(const std::vector<std::vector<T>>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : v) n.push_back(seq(x));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}
}  // namespace

Field Field::at_least(double lo) const {
  Field f = *this;
  f.min_value = lo;
  return f;
}
Field Field::within(double lo, double hi) const {
  Field f = *this;
  f.min_value = lo, f.max_value = hi;
  return f;
}
bool Field::bounded() const {
  return min_value > -std::numeric_limits<double>::infinity() || max_value < std::numeric_limits<double>::infinity();
}
std::string Field::range_text() const {
  auto num = [](double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  if (!bounded()) return "";
  if (max_value == std::numeric_limits<double>::infinity()) return "at least " + num(min_value);
  if (min_value == -std::numeric_limits<double>::infinity()) return "at most " + num(max_value);
  return "in [" + num(min_value) + ", " + num(max_value) + "]";
}

Field Int(int64_t def, std::string doc) { return make(Type::Int, YAML::Node(def), std::move(doc)); }
Field Float(double def, std::string doc) { return make(Type::Float, num(def), std::move(doc)); }
Field Bool(bool def, std::string doc) { return make(Type::Bool, YAML::Node(def), std::move(doc)); }
Field Str(std::string def, std::vector<std::string> choices, std::string doc) {
  Field f = make(Type::String, YAML::Node(def), std::move(doc));
  f.choices = std::move(choices);
  return f;
}
Field IntList(std::vector<int64_t> def, std::string doc) { return make(Type::IntList, seq(def), std::move(doc)); }
Field FloatList(std::vector<double> def, std::string doc) { return make(Type::FloatList, seq(def), std::move(doc)); }
Field StrList(std::vector<std::string> def, std::string doc) {
  return make(Type::StringList, seq(def), std::move(doc));
}
Field IntListList(std::vector<std::vector<int64_t>> def, std::string doc) {
  return make(Type::IntListList, seq2(def), std::move(doc));
}
Field FloatListList(std::vector<std::vector<double>> def, std::string doc) {
  return make(Type::FloatListList, seq2(def), std::move(doc));
}
Field Section(std::vector<std::pair<std::string, Field>> children, std::string doc) {
  Field f = make(Type::Section, YAML::Node(), std::move(doc));
  f.children = std::move(children);
  return f;
}
Field TypedMap(std::vector<std::pair<std::string, Field>> variants, std::string default_type, std::string doc) {
  Field f = make(Type::TypedMap, YAML::Node(), std::move(doc));
  f.variants = std::move(variants);
  f.default_type = std::move(default_type);
  return f;
}
Field TypedList(std::vector<std::pair<std::string, Field>> variants, const std::string& default_items,
                std::string doc) {
  Field f = make(Type::TypedList, YAML::Load(default_items), std::move(doc));
  f.variants = std::move(variants);
  return f;
}

}  // namespace compress::config
