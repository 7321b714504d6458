#include "train/config/schema_doc.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

#include "train/config/schema.h"
#include "train/config/suggest.h"
#include "train/util/error.h"

namespace compress::config {
namespace {

std::string flow(const YAML::Node& n) {
  if (!n || n.IsNull()) return "";
  if (n.IsScalar()) return n.Scalar().empty() ? "''" : n.Scalar();
  YAML::Emitter e;
  e.SetSeqFormat(YAML::Flow);
  e.SetMapFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

void walk(const Field& f, const std::string& path, std::vector<KeyDoc>& out) {
  switch (f.type) {
    case Type::Section:
      for (const auto& [k, c] : f.children) walk(c, path.empty() ? k : path + "." + k, out);
      return;
    case Type::TypedMap:
    case Type::TypedList: {
      std::string choices;
      for (const auto& v : f.variant_names()) choices += (choices.empty() ? "" : ", ") + v;
      std::string doc = f.doc.empty() ? "" : f.doc + "; ";
      doc += "types: " + choices;
      if (f.type == Type::TypedMap) doc += " (default " + f.default_type + ")";
      out.push_back({path, type_name(f.type), flow(f.default_value), "", doc});
      // Printed as `-o` takes them: a list item or a typed map's keys by its type name.
      for (const auto& [name, v] : f.variants) {
        if (!v.doc.empty() || v.children.empty()) out.push_back({path + "." + name, "map", "", "", v.doc, true});
        const size_t first = out.size();
        for (const auto& [k, c] : v.children) walk(c, path + "." + name + "." + k, out);
        for (size_t i = first; i < out.size(); ++i) out[i].in_variant = true;
      }
      return;
    }
    default: {
      std::string doc = f.doc;
      if (f.type == Type::String && !f.choices.empty()) {
        std::string c;
        for (const auto& s : f.choices) c += (c.empty() ? "" : ", ") + s;
        doc = (doc.empty() ? "" : doc + "; ") + "one of: " + c;
      }
      out.push_back({path, type_name(f.type), flow(f.default_value), f.range_text(), doc});
    }
  }
}

// The prefix is a key path: "quant" selects "quant" and "quant.*".
bool under(const std::string& path, const std::string& prefix) {
  if (prefix.empty()) return true;
  if (path.rfind(prefix, 0) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '.' || path[prefix.size()] == '[';
}

}  // namespace

std::vector<KeyDoc> document_keys(const std::string& prefix) {
  std::vector<KeyDoc> all;
  walk(root_schema(), "", all);
  std::vector<KeyDoc> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const KeyDoc& k) { return under(k.path, prefix); });
  if (out.empty()) {
    std::vector<std::string> names;
    for (const auto& k : all) {
      // Offer every ancestor of every key ("TrainReader", "TrainReader.dataset", ...).
      for (size_t i = 0; i <= k.path.size(); ++i)
        if (i == k.path.size() || k.path[i] == '.' || k.path[i] == '[') names.push_back(k.path.substr(0, i));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    fail("config keys: no key '", prefix, "'", did_you_mean(prefix, names));
  }
  return out;
}

std::string format_key_docs(const std::vector<KeyDoc>& keys) {
  std::vector<KeyDoc> rows{{"key", "type", "default", "range", "meaning"}};
  rows.insert(rows.end(), keys.begin(), keys.end());
  // Long defaults (transform lists) overflow their column rather than widen it.
  size_t wp = 0, wt = 0, wv = 0, wr = 0;
  for (const auto& k : rows) {
    wp = std::max(wp, k.path.size()), wt = std::max(wt, k.type.size());
    wv = std::max(wv, std::min<size_t>(k.value.size(), 24)), wr = std::max(wr, k.range.size());
  }
  auto pad = [](const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); };
  std::ostringstream o;
  for (const auto& k : rows) {
    std::string line = pad(k.path, wp) + "  " + pad(k.type, wt) + "  " + pad(k.value, wv) + "  " + pad(k.range, wr);
    if (!k.doc.empty()) line += "  " + k.doc;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    o << line << "\n";
  }
  return o.str();
}

}  // namespace compress::config
