// The config schema: every key a config file may hold, its type and default.
// Validation walks a YAML document against it, so an unknown key or a wrong type
// is caught at load time with the file and key path, never deep inside training.
#pragma once
#include <yaml-cpp/yaml.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace compress::config {

enum class Type {
  Int,
  Float,
  Bool,
  String,
  IntList,
  FloatList,
  StringList,
  IntListList,
  FloatListList,
  Section,    // a map with fixed keys (children)
  TypedMap,   // a map whose `type` (or YAML tag `!Type`) selects one of `variants`
  TypedList,  // a list of TypedMap items, e.g. sample_transforms
};

const char* type_name(Type t);

struct Field {
  Type type = Type::String;
  YAML::Node default_value;                             // scalars, lists, TypedList
  std::vector<std::string> choices;                     // String: allowed values
  std::vector<std::pair<std::string, Field>> children;  // Section
  std::vector<std::pair<std::string, Field>> variants;  // TypedMap / TypedList: name -> Section
  std::string default_type;                             // TypedMap
  std::string doc;
  // Bounds of an Int / Float, or of every element of a numeric list, checked
  // at load time so a negative batch size is caught with its file and key.
  double min_value = -std::numeric_limits<double>::infinity();
  double max_value = std::numeric_limits<double>::infinity();

  Field at_least(double lo) const;
  Field within(double lo, double hi) const;
  bool bounded() const;
  std::string range_text() const;  // "at least 1", "at most 4", "in [0, 1]"; "" if unbounded

  const Field* child(const std::string& key) const;
  const Field* variant(const std::string& name) const;
  std::vector<std::string> child_names() const;
  std::vector<std::string> variant_names() const;
};

// Builders, so that schema.cpp reads like the config it describes.
Field Int(int64_t def, std::string doc = "");
Field Float(double def, std::string doc = "");
Field Bool(bool def, std::string doc = "");
Field Str(std::string def, std::vector<std::string> choices = {}, std::string doc = "");
Field IntList(std::vector<int64_t> def, std::string doc = "");
Field FloatList(std::vector<double> def, std::string doc = "");
Field StrList(std::vector<std::string> def, std::string doc = "");
Field IntListList(std::vector<std::vector<int64_t>> def, std::string doc = "");
Field FloatListList(std::vector<std::vector<double>> def, std::string doc = "");
Field Section(std::vector<std::pair<std::string, Field>> children, std::string doc = "");
Field TypedMap(std::vector<std::pair<std::string, Field>> variants, std::string default_type, std::string doc = "");
// `default_items` is YAML text of the default list, e.g. "[{type: ResizeImage}]".
Field TypedList(std::vector<std::pair<std::string, Field>> variants, const std::string& default_items,
                std::string doc = "");

// The schema of a whole config file: train's own sections (schema.cpp) and
// those added with add_section.
const Field& root_schema();

// A section another module owns (pretrain, quant, prune, distill): each
// module exports its Field, and the program composes them before it loads a
// config (compress/config_sections.h). A second section of one name is an error.
void add_section(const std::string& name, Field section);

}  // namespace compress::config
