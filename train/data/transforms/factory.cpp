// Builds transforms from validated config items. One explicit list of names:
// the schema (train/config/schema.cpp) lists the same ones.
#include <opencv2/imgproc.hpp>

#include "train/data/transforms/transforms.h"
#include "train/util/error.h"

namespace compress {

namespace {
std::array<float, 3> three(const YAML::Node& n, const char* what) {
  const auto v = n.as<std::vector<float>>();
  if (v.size() != 3) fail(what, ": expected 3 values (R, G, B), got ", v.size());
  return {v[0], v[1], v[2]};
}
std::string type_of(const YAML::Node& spec) { return spec["type"] ? spec["type"].as<std::string>() : ""; }
}  // namespace

int interp_from_name(const std::string& name) {
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "linear") return cv::INTER_LINEAR;
  if (name == "cubic") return cv::INTER_CUBIC;
  if (name == "area") return cv::INTER_AREA;
  fail("unknown interpolation '", name, "' (valid: nearest, linear, cubic, area)");
}

std::unique_ptr<Transform> make_transform(const YAML::Node& spec) {
  const std::string t = type_of(spec);
  if (t == "DistortImage") {
    DistortParams p;
    p.brightness_lower = spec["brightness_lower"].as<float>(),
    p.brightness_upper = spec["brightness_upper"].as<float>();
    p.brightness_prob = spec["brightness_prob"].as<float>();
    p.contrast_lower = spec["contrast_lower"].as<float>(), p.contrast_upper = spec["contrast_upper"].as<float>();
    p.contrast_prob = spec["contrast_prob"].as<float>();
    p.saturation_lower = spec["saturation_lower"].as<float>(),
    p.saturation_upper = spec["saturation_upper"].as<float>();
    p.saturation_prob = spec["saturation_prob"].as<float>();
    p.hue_lower = spec["hue_lower"].as<float>(), p.hue_upper = spec["hue_upper"].as<float>();
    p.hue_prob = spec["hue_prob"].as<float>();
    return std::make_unique<DistortImage>(p);
  }
  if (t == "ExpandImage") {
    const float r = spec["max_ratio"].as<float>();
    if (r < 1) fail("ExpandImage.max_ratio must be >= 1, got ", r);
    return std::make_unique<ExpandImage>(r, spec["prob"].as<float>(), three(spec["mean"], "ExpandImage.mean"));
  }
  if (t == "CropImage") {
    std::vector<std::array<float, 8>> samplers;
    for (const auto& row : spec["batch_sampler"]) {
      const auto v = row.as<std::vector<float>>();
      if (v.size() != 8) fail("CropImage.batch_sampler: each sampler needs 8 numbers, got ", v.size());
      std::array<float, 8> a;
      std::copy(v.begin(), v.end(), a.begin());
      samplers.push_back(a);
    }
    return std::make_unique<CropImage>(samplers, spec["satisfy_all"].as<bool>(), spec["avoid_no_bbox"].as<bool>());
  }
  if (t == "MixupImage") {
    const float a = spec["alpha"].as<float>(), b = spec["beta"].as<float>();
    if (a <= 0 || b <= 0) fail("MixupImage: alpha and beta must be positive, got ", a, " and ", b);
    return std::make_unique<MixupImage>(a, b);
  }
  if (t == "RandomFlipImage") return std::make_unique<RandomFlipImage>(spec["prob"].as<float>());
  if (t == "ResizeImage") {
    const int size = spec["target_size"].as<int>();
    if (size <= 0) fail("ResizeImage.target_size must be positive, got ", size);
    return std::make_unique<ResizeImage>(size, interp_from_name(spec["interp"].as<std::string>()));
  }
  if (t == "NormalizeImage")
    return std::make_unique<NormalizeImage>(three(spec["mean"], "NormalizeImage.mean"),
                                            three(spec["std"], "NormalizeImage.std"), spec["is_scale"].as<bool>());
  fail("unknown sample transform '", t,
       "' (valid: MixupImage, DistortImage, ExpandImage, CropImage, RandomFlipImage, ResizeImage, NormalizeImage)");
}

std::unique_ptr<BatchTransform> make_batch_transform(const YAML::Node& spec) {
  const std::string t = type_of(spec);
  if (t == "RandomShape")
    return std::make_unique<RandomShape>(spec["sizes"].as<std::vector<int>>(), spec["random_inter"].as<bool>());
  fail("unknown batch transform '", t, "' (valid: RandomShape)");
}

Pipeline make_pipeline(const YAML::Node& reader) {
  Pipeline p;
  for (const auto& spec : reader["sample_transforms"]) p.sample.push_back(make_transform(spec));
  for (const auto& spec : reader["batch_transforms"]) p.batch.push_back(make_batch_transform(spec));
  return p;
}

}  // namespace compress
