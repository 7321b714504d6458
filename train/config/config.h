// Loading a recipe: `_BASE_` inheritance, schema validation, `-o key=value`
// overrides and schema defaults, giving one fully merged, typed config.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace compress::config {
struct Field;  // train/config/schema.h: only config.cpp and the schema tools need it whole
}  // namespace compress::config

namespace compress {

class Config {
 public:
  Config() = default;
  Config(YAML::Node root, std::string source) : root_(std::move(root)), source_(std::move(source)) {}

  const YAML::Node& root() const { return root_; }
  const std::string& source() const { return source_; }  // the top file, or "" for defaults

  // Node at a dotted path ("TrainReader.dataset.anno_path"); throws compress::Error if absent.
  YAML::Node at(const std::string& path) const;
  bool has(const std::string& path) const;
  template <typename T>
  T get(const std::string& path) const;

  // Sets the key at a dotted path to a typed value, checked against the schema
  // as `-o` is (an unknown key or a wrong type is an error naming the key). No
  // text round trip: a double keeps every digit. For int64_t, double, bool,
  // std::string.
  template <typename T>
  void set(const std::string& path, const T& value);
  void set(const std::string& path, const char* value) { set<std::string>(path, value); }

  // Canonical YAML text: schema order, every default filled in.
  std::string dump() const;

 private:
  YAML::Node root_;
  std::string source_;
};

// Loads `path` (and its bases), applies `overrides` ("a.b=value"), fills defaults.
// Every error names the file (or the override) and the key path.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Builds a config from YAML text, as if it were a file named `name` (bases resolve from cwd).
Config config_from_string(const std::string& yaml_text, const std::vector<std::string>& overrides = {},
                          const std::string& name = "<string>");

// Re-applies overrides to an already loaded config (used when a run is resumed).
void apply_override(Config& cfg, const std::string& assignment);

namespace config {
// Exposed for tests: validates one document against `schema`; `where` names the file.
void validate(const YAML::Node& node, const Field& schema, const std::string& key_path, const std::string& where);
}  // namespace config

}  // namespace compress
