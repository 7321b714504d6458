// The schema as a reference a user can read: every key path with its type,
// default, range and meaning (`compress config keys [PREFIX]`), so the docs in
// schema.cpp need not be read from source.
#pragma once
#include <string>
#include <vector>

namespace compress::config {

struct KeyDoc {
  std::string path;   // "quant.freeze_bn_iter", "TrainReader.sample_transforms.ExpandImage.prob" (as -o takes it)
  std::string type;   // "int", "list of float", ...
  std::string value;  // the default as flow YAML ("" for sections)
  std::string range;  // "at least 1", "in [0, 1]" or ""
  std::string doc;
  bool in_variant = false;  // under a typed list or map's variant: settable when the recipe has that item or type
};

// Every leaf key whose path starts with `prefix` (a whole key or section:
// "quant" matches "quant.max_iters", not "quantile"). Typed lists and maps list
// each variant's keys as `path.Variant.key`, the form `-o` takes. An unknown prefix is an error
// naming the closest section.
std::vector<KeyDoc> document_keys(const std::string& prefix = "");

// One aligned line per key.
std::string format_key_docs(const std::vector<KeyDoc>& keys);

}  // namespace compress::config
