// Loading a config: the YAML file and its `_BASE_` chain merged (later wins),
// the schema's defaults filled in, the overrides applied; and typed reads.
#include <filesystem>
#include <set>
#include <sstream>

#include "train/config/config.h"
#include "train/config/config_detail.h"
#include "train/config/schema.h"
#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress {
namespace fs = std::filesystem;
using config::Field;
using config::Type;
using namespace config::detail;

namespace config::detail {

// Later wins: maps merge key by key, everything else is replaced.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over, const Field& f) {
  if (!base || base.IsNull()) return YAML::Clone(over);
  if (!over || over.IsNull()) return YAML::Clone(base);
  if (f.type == Type::Section) {
    YAML::Node out = YAML::Clone(base);
    for (const auto& kv : over) {
      const std::string key = kv.first.Scalar();
      const Field* c = f.child(key);
      out[key] = c ? merge(base[key], kv.second, *c) : YAML::Clone(kv.second);
    }
    return out;
  }
  if (f.type == Type::TypedMap && variant_of(base) == variant_of(over)) {
    YAML::Node out = YAML::Clone(base);
    for (const auto& kv : over) out[kv.first.Scalar()] = YAML::Clone(kv.second);
    return out;
  }
  return YAML::Clone(over);
}

YAML::Node with_defaults(const YAML::Node& n, const Field& f);

YAML::Node section_with_defaults(const YAML::Node& n, const Field& sec, const std::string& type_name_) {
  YAML::Node out(YAML::NodeType::Map);
  if (!type_name_.empty()) out["type"] = type_name_;
  for (const auto& [key, child] : sec.children) {
    const YAML::Node v = (n && n.IsMap()) ? n[key] : YAML::Node();
    out[key] = with_defaults(v, child);
  }
  return out;
}

YAML::Node with_defaults(const YAML::Node& n, const Field& f) {
  switch (f.type) {
    case Type::Section:
      return section_with_defaults(n, f, "");
    case Type::TypedMap: {
      std::string name = n ? variant_of(n) : "";
      if (name.empty()) name = f.default_type;
      return section_with_defaults(n, *f.variant(name), name);
    }
    case Type::TypedList: {
      const YAML::Node items = (n && n.IsSequence()) ? n : f.default_value;
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& item : items) {
        const std::string name = variant_of(item);
        out.push_back(section_with_defaults(item, *f.variant(name), name));
      }
      return out;
    }
    default: {
      YAML::Node out = YAML::Clone((n && !n.IsNull()) ? n : f.default_value);
      if (out.IsSequence()) out.SetStyle(YAML::EmitterStyle::Flow);
      return out;
    }
  }
}

}  // namespace config::detail

namespace {

YAML::Node load_yaml_file(const std::string& path) {
  if (!fs::exists(path)) fail("config file '", path, "' does not exist");
  if (fs::is_directory(path)) fail("config file '", path, "' is a directory; give a YAML file");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    fail(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": malformed YAML: ", e.msg);
  }
}

// Loads one file with its `_BASE_` chain already merged in. `stack` catches cycles.
YAML::Node load_with_bases(const YAML::Node& doc_in, const std::string& where, const fs::path& dir,
                           std::vector<std::string>& stack) {
  const YAML::Node doc = normalize_tags(doc_in, where);
  if (!doc.IsNull() && !doc.IsMap()) fail(where, ": a config file must be a YAML map, got ", describe(doc));
  config::validate(doc, config::root_schema(), "", where);
  YAML::Node merged(YAML::NodeType::Map);
  if (doc.IsMap() && doc["_BASE_"]) {
    const YAML::Node bases = doc["_BASE_"];
    std::vector<std::string> list;
    if (bases.IsScalar()) {
      list.push_back(bases.Scalar());
    } else if (bases.IsSequence() && value_matches(bases, Type::StringList)) {
      for (const auto& b : bases) list.push_back(b.Scalar());
    } else {
      fail(where, ": key '_BASE_': expected a file name or a list of file names");
    }
    for (const auto& b : list) {
      const fs::path p = fs::weakly_canonical(dir / b);
      if (!fs::exists(p)) fail(where, ": key '_BASE_': base file '", b, "' not found (looked at ", p.string(), ")");
      if (std::find(stack.begin(), stack.end(), p.string()) != stack.end())
        fail(where, ": key '_BASE_': circular inheritance through '", p.string(), "'");
      stack.push_back(p.string());
      const YAML::Node base = load_with_bases(load_yaml_file(p.string()), p.string(), p.parent_path(), stack);
      stack.pop_back();
      merged.reset(merge(merged, base, config::root_schema()));
    }
  }
  YAML::Node own = YAML::Clone(doc);
  if (own.IsMap()) own.remove("_BASE_");
  return merge(merged, own, config::root_schema());
}

Config finish(YAML::Node merged, const std::vector<std::string>& overrides, const std::string& source) {
  Config cfg(with_defaults(merged, config::root_schema()), source);
  for (const auto& o : overrides) {
    try {
      apply_override(cfg, o);
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {  // a bad `-o` is a mistake in the command line: exit 2 with the usage
      throw UsageError(e.what());
    }
  }
  return cfg;
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const fs::path p = fs::weakly_canonical(path);
  std::vector<std::string> stack{p.string()};
  const YAML::Node merged = load_with_bases(load_yaml_file(path), path, p.parent_path(), stack);
  return finish(merged, overrides, path);
}

Config config_from_string(const std::string& yaml_text, const std::vector<std::string>& overrides,
                          const std::string& name) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": malformed YAML: ", e.msg);
  }
  std::vector<std::string> stack;
  const YAML::Node merged = load_with_bases(doc, name, fs::current_path(), stack);
  return finish(merged, overrides, name);
}

namespace {
// Walks a dotted path without inserting keys. Note: yaml-cpp's Node::operator=
// writes through to the referenced node, so walking must rebind with reset().
bool find_node(const YAML::Node& root, const std::string& path, YAML::Node& out) {
  YAML::Node walk;
  walk.reset(root);
  for (const auto& part : split(path, '.')) {
    const YAML::Node& cw = walk;
    YAML::Node next;
    if (cw.IsMap()) {
      next.reset(cw[part]);
    } else if (cw.IsSequence() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t i = std::stoul(part);
      if (i >= cw.size()) return false;
      next.reset(cw[i]);
    } else {
      return false;
    }
    if (!next.IsDefined()) return false;
    walk.reset(next);
  }
  out.reset(walk);
  return true;
}
}  // namespace

bool Config::has(const std::string& path) const {
  YAML::Node n;
  return find_node(root_, path, n);
}

YAML::Node Config::at(const std::string& path) const {
  YAML::Node n;
  if (!find_node(root_, path, n))
    fail("config", source_.empty() ? "" : " '" + source_ + "'", ": missing key '", path, "'");
  return n;
}

template <typename T>
T Config::get(const std::string& path) const {
  const YAML::Node n = at(path);
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    fail("config", source_.empty() ? "" : " '" + source_ + "'", ": key '", path, "' has the wrong type");
  }
}

template int Config::get<int>(const std::string&) const;
template int64_t Config::get<int64_t>(const std::string&) const;
template double Config::get<double>(const std::string&) const;
template float Config::get<float>(const std::string&) const;
template bool Config::get<bool>(const std::string&) const;
template std::string Config::get<std::string>(const std::string&) const;
template std::vector<int> Config::get<std::vector<int>>(const std::string&) const;
template std::vector<int64_t> Config::get<std::vector<int64_t>>(const std::string&) const;
template std::vector<double> Config::get<std::vector<double>>(const std::string&) const;
template std::vector<float> Config::get<std::vector<float>>(const std::string&) const;
template std::vector<std::string> Config::get<std::vector<std::string>>(const std::string&) const;
template std::vector<std::vector<int>> Config::get<std::vector<std::vector<int>>>(const std::string&) const;
template std::vector<std::vector<double>> Config::get<std::vector<std::vector<double>>>(const std::string&) const;

std::string Config::dump() const {
  YAML::Emitter out;
  out << root_;
  return std::string(out.c_str()) + "\n";
}

}  // namespace compress
