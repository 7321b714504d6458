// Data augmentation operators, one class each, named as in the reference
// (PaddleDetection's sample/batch transforms). Each keeps the boxes consistent
// with the pixels; tests/test_transforms.cpp checks that for every one.
#pragma once
#include <yaml-cpp/yaml.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "train/data/sample.h"
#include "train/util/rng.h"

namespace compress {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(Sample& s, Rng& rng) const = 0;
  virtual const char* name() const = 0;
};

// Blends the sample with a partner image that the loader draws from the whole
// dataset, decoded and untransformed (the reference's reader attaches it the
// same way). apply(s, rng) alone, when no partner is given, leaves s unchanged.
class PartnerTransform : public Transform {
 public:
  void apply(Sample& s, Rng& rng) const override {}
  virtual void apply(Sample& s, Sample partner, Rng& rng) const = 0;
};

// Operates on a whole batch (e.g. one random input size for all its images).
class BatchTransform {
 public:
  virtual ~BatchTransform() = default;
  virtual void apply(std::vector<Sample>& batch, Rng& rng) const = 0;
  virtual const char* name() const = 0;
};

struct DistortParams {
  float brightness_lower = 0.5f, brightness_upper = 1.5f, brightness_prob = 0.5f;
  float contrast_lower = 0.5f, contrast_upper = 1.5f, contrast_prob = 0.5f;
  float saturation_lower = 0.5f, saturation_upper = 1.5f, saturation_prob = 0.5f;
  float hue_lower = -18.f, hue_upper = 18.f, hue_prob = 0.5f;  // degrees
};

// Photometric distortion (brightness, contrast, saturation, hue, in that order). Boxes untouched.
class DistortImage : public Transform {
 public:
  explicit DistortImage(DistortParams p) : p_(p) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "DistortImage"; }

 private:
  DistortParams p_;
};

// Mixup (Zhang et al. 2019, "Bag of Freebies for Training Object Detection
// Neural Networks"), the reference's MixupImage: blends the decoded sample with a
// partner image that the loader draws from the dataset, by a factor
// f ~ Beta(alpha, beta). Both sit at the top-left of a max(h) x max(w) canvas:
// pixel = f * a + (1 - f) * b where both cover it, f * a or (1 - f) * b where one
// does, 0 elsewhere, rounded to the nearest uint8 (the reference truncates: at
// most 1 grey level apart). The box lists are concatenated; each box weighs its
// image's factor in the loss (Sample::scores). f >= 1 keeps the sample, f <= 0
// yields the partner.
class MixupImage : public PartnerTransform {
 public:
  MixupImage(float alpha, float beta) : alpha_(alpha), beta_(beta) {}
  using PartnerTransform::apply;
  // Without a partner (past TrainReader.mixup_epoch) the sample is unchanged.
  void apply(Sample& s, Sample partner, Rng& rng) const override;
  const char* name() const override { return "MixupImage"; }
  // The blend itself, for a given factor in (0, 1).
  static void mix(Sample& s, const Sample& partner, float factor);

 private:
  float alpha_, beta_;
};

// Zoom out: paste the image at a random spot of a canvas up to max_ratio times larger.
class ExpandImage : public Transform {
 public:
  ExpandImage(float max_ratio, float prob, std::array<float, 3> mean)
      : max_ratio_(max_ratio), prob_(prob), mean_(mean) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "ExpandImage"; }

 private:
  float max_ratio_, prob_;
  std::array<float, 3> mean_;
};

// SSD random IoU crop. Each sampler: [max_sample, max_trial, min_scale, max_scale,
// min_aspect, max_aspect, min_overlap, max_overlap] (overlap bounds 0 = none).
// Boxes whose centre falls outside the crop are dropped; the rest are clipped.
class CropImage : public Transform {
 public:
  CropImage(std::vector<std::array<float, 8>> samplers, bool satisfy_all, bool avoid_no_bbox)
      : samplers_(std::move(samplers)), satisfy_all_(satisfy_all), avoid_no_bbox_(avoid_no_bbox) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "CropImage"; }

 private:
  std::vector<std::array<float, 8>> samplers_;
  bool satisfy_all_, avoid_no_bbox_;
};

class RandomFlipImage : public Transform {
 public:
  explicit RandomFlipImage(float prob) : prob_(prob) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "RandomFlipImage"; }

 private:
  float prob_;
};

// Resizes to target_size x target_size (SSD's fixed square input), scaling boxes.
class ResizeImage : public Transform {
 public:
  ResizeImage(int target_size, int interp) : target_size_(target_size), interp_(interp) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "ResizeImage"; }

 private:
  int target_size_, interp_;
};

// uint8 RGB -> float32 RGB: (x / 255 - mean) / std.
class NormalizeImage : public Transform {
 public:
  NormalizeImage(std::array<float, 3> mean, std::array<float, 3> std, bool is_scale)
      : mean_(mean), std_(std), is_scale_(is_scale) {}
  void apply(Sample& s, Rng& rng) const override;
  const char* name() const override { return "NormalizeImage"; }

 private:
  std::array<float, 3> mean_, std_;
  bool is_scale_;
};

// YOLO multi-scale training: one random square size per batch.
class RandomShape : public BatchTransform {
 public:
  RandomShape(std::vector<int> sizes, bool random_inter) : sizes_(std::move(sizes)), random_inter_(random_inter) {}
  void apply(std::vector<Sample>& batch, Rng& rng) const override;
  const char* name() const override { return "RandomShape"; }

 private:
  std::vector<int> sizes_;
  bool random_inter_;
};

// Resizes a sample (uint8 or float) to w x h and scales its boxes.
void resize_sample(Sample& s, int w, int h, int interp);

// The transforms of one reader section, built from its validated config.
struct Pipeline {
  std::vector<std::unique_ptr<Transform>> sample;
  std::vector<std::unique_ptr<BatchTransform>> batch;
};

// `spec` is one item of sample_transforms / batch_transforms: {type: Name, ...}.
std::unique_ptr<Transform> make_transform(const YAML::Node& spec);
std::unique_ptr<BatchTransform> make_batch_transform(const YAML::Node& spec);
// `reader` is a TrainReader/EvalReader section.
Pipeline make_pipeline(const YAML::Node& reader);

int interp_from_name(const std::string& name);  // "linear" -> cv::INTER_LINEAR

}  // namespace compress
