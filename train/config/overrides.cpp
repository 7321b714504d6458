// Overrides: `-o key.path=value` from the command line (text, parsed as YAML)
// and Config::set (typed values); both checked against the schema at the key.
#include <filesystem>
#include <set>
#include <sstream>

#include "train/config/config.h"
#include "train/config/config_detail.h"
#include "train/config/schema.h"
#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress {
using config::Field;
using config::Type;
using namespace config::detail;

namespace config::detail {

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

}  // namespace config::detail

namespace {

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

}  // namespace compress
