#include "train/config/config.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "train/config/schema.h"
#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress {
namespace fs = std::filesystem;
using config::Field;
using config::Type;

namespace {

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
YAML::Node normalize_tags(const YAML::Node& n, const std::string& where, const std::string& path = "", int depth = 0) {
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

}  // namespace

namespace config {

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

}  // namespace config

namespace {

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

// Finds the schema field for a dotted override path, descending into typed
// lists by index ("sample_transforms.2.prob") or by type name
// ("sample_transforms.ExpandImage.prob"). Returns the node to assign into.
void assign(YAML::Node root, const std::string& key, const YAML::Node& value, const std::string& where) {
  const auto parts = split(key, '.');
  const Field* f = &config::root_schema();
  YAML::Node node;
  node.reset(root);
  std::string path;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    const Field* next = nullptr;
    YAML::Node child;  // rebound with reset(): operator= would write through
    if (f->type == Type::Section) {
      next = f->child(part);
      if (!next) fail(where, ": unknown key '", join_path(path, part), "'", did_you_mean(part, f->child_names()));
      child.reset(node[part]);
    } else if (f->type == Type::TypedMap) {
      if (!last && part == variant_of(node)) {  // `dataset.COCODataSet.image_dir`: the map's own type name
        path = join_path(path, part);
        continue;
      }
      const Field* v = f->variant(variant_of(node));
      next = v ? v->child(part) : nullptr;
      if (!next)
        fail(where, ": unknown key '", join_path(path, part), "'",
             v ? did_you_mean(part, v->child_names()) : std::string());
      child.reset(node[part]);
    } else if (f->type == Type::TypedList) {
      size_t idx = node.size();
      if (!part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
        idx = std::stoul(part);
      } else {
        for (size_t j = 0; j < node.size(); ++j)
          if (variant_of(node[j]) == part) {
            idx = j;
            break;
          }
      }
      if (idx >= node.size())
        fail(where, ": '", join_path(path, part), "' is neither an index nor a type in the list (", node.size(),
             " items)");
      if (last) fail(where, ": replace the whole list, or set a key of one item");
      // The item itself behaves as a typed map; descend one more level.
      YAML::Node item;
      item.reset(node[idx]);
      const Field* v = f->variant(variant_of(item));
      const std::string& sub = parts[++i];
      next = v->child(sub);
      if (!next)
        fail(where, ": unknown key '", join_path(join_path(path, part), sub), "'", did_you_mean(sub, v->child_names()));
      path = join_path(path, part);
      node.reset(item);
      child.reset(node[sub]);
      if (i + 1 == parts.size()) {
        config::validate(value, *next, join_path(path, sub), where);
        node[sub] = with_defaults(value, *next);
        return;
      }
      path = join_path(path, sub);
      f = next;
      node.reset(child);
      continue;
    } else {
      fail(where, ": '", path, "' is a ", type_name(f->type), ", it has no key '", part, "'");
    }
    path = join_path(path, part);
    if (last) {
      config::validate(value, *next, path, where);
      node[part] = with_defaults(merge(child, value, *next), *next);
      return;
    }
    f = next;
    node.reset(child);
  }
}

void set_by_path(YAML::Node root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail("-o '", assignment, "': expected key.path=value");
  // `config keys` prints list items and typed maps by type name; the older
  // bracket form (`sample_transforms[ResizeImage].target_size`) is accepted too.
  std::string key;
  for (char ch : assignment.substr(0, eq))
    if (ch == '[')
      key += '.';
    else if (ch != ']')
      key += ch;
  const std::string text = assignment.substr(eq + 1);
  const std::string where = "-o " + key;
  YAML::Node value;
  try {
    value = normalize_tags(YAML::Load(text), where, key);
  } catch (const YAML::Exception& e) {
    fail(where, ": malformed value '", text, "': ", e.msg);
  }
  assign(root, key, value, where);
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

void apply_override(Config& cfg, const std::string& assignment) { set_by_path(cfg.root(), assignment); }

template <typename T>
void Config::set(const std::string& path, const T& value) {
  // yaml-cpp writes floating point with max_digits10 digits, so a value set
  // here reads back bit for bit (tests/test_config.cpp checks 1e-8).
  assign(root_, path, YAML::Node(value), "setting " + path);
}

template void Config::set<int64_t>(const std::string&, const int64_t&);
template void Config::set<double>(const std::string&, const double&);
template void Config::set<bool>(const std::string&, const bool&);
template void Config::set<std::string>(const std::string&, const std::string&);

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
