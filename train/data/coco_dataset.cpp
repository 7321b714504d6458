#include "train/data/coco_dataset.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unordered_set>

#include "train/util/error.h"

namespace compress {

// Boxes thinner than this (pixels) after clipping carry no signal.
constexpr float kMinBoxSide = 1e-3f;

std::vector<const CocoCategory*> categories_by_id(const CocoFile& f) {
  std::vector<const CocoCategory*> cats;
  for (const auto& c : f.categories) cats.push_back(&c);
  std::sort(cats.begin(), cats.end(), [](auto* a, auto* b) { return a->id < b->id; });
  return cats;
}

CocoDataset CocoDataset::load(const CocoDatasetOptions& opt) {
  CocoDataset ds;
  ds.opt_ = opt;
  ds.file_ = read_coco_instances(opt.anno_path);
  // Contiguous labels in category-id order, as every COCO tool does.
  for (const auto* c : categories_by_id(ds.file_)) {
    ds.label_of_[c->id] = static_cast<int64_t>(ds.category_ids_.size());
    ds.category_ids_.push_back(c->id);
    ds.class_names_.push_back(c->name);
  }
  std::unordered_map<int64_t, size_t> entry_of_image;
  std::vector<Entry> all(ds.file_.images.size());
  for (size_t i = 0; i < ds.file_.images.size(); ++i) {
    all[i].image_index = i;
    entry_of_image[ds.file_.images[i].id] = i;
  }
  for (const auto& a : ds.file_.annotations) {
    if (a.iscrowd) {
      ++ds.stats_.crowd;  // crowd regions are never training targets
      continue;
    }
    Entry& e = all[entry_of_image.at(a.image_id)];
    const CocoImage& im = ds.file_.images[e.image_index];
    const float W = static_cast<float>(im.width), H = static_cast<float>(im.height);
    Box b{static_cast<float>(a.bbox[0]), static_cast<float>(a.bbox[1]), static_cast<float>(a.bbox[0] + a.bbox[2]),
          static_cast<float>(a.bbox[1] + a.bbox[3])};
    const Box raw = b;
    b.x1 = std::clamp(b.x1, 0.f, W), b.x2 = std::clamp(b.x2, 0.f, W);
    b.y1 = std::clamp(b.y1, 0.f, H), b.y2 = std::clamp(b.y2, 0.f, H);
    if (b.x1 != raw.x1 || b.x2 != raw.x2 || b.y1 != raw.y1 || b.y2 != raw.y2) ++ds.stats_.clipped;
    if (b.width() < kMinBoxSide || b.height() < kMinBoxSide) {
      ++ds.stats_.degenerate;
      continue;
    }
    e.boxes.push_back(b);
    e.labels.push_back(ds.label_of_.at(a.category_id));
  }
  for (auto& e : all) {
    if (opt.sample_num > 0 && static_cast<int64_t>(ds.entries_.size()) == opt.sample_num) break;
    if (opt.skip_empty && e.boxes.empty()) {
      ++ds.stats_.skipped_empty;
      continue;
    }
    ds.stats_.boxes += static_cast<int64_t>(e.boxes.size());
    ds.entries_.push_back(std::move(e));
  }
  ds.stats_.images = static_cast<int64_t>(ds.entries_.size());
  if (ds.stats_.boxes == 0 && ds.stats_.degenerate > 0)
    fail(opt.anno_path, ": every one of its ", ds.stats_.degenerate,
         " boxes is degenerate after clipping to its "
         "image's declared width/height (wrong `width`/`height`, or bboxes not in [x, y, w, h] pixels?)");
  if (opt.sample_num > 0 && ds.entries_.size() < ds.file_.images.size()) ds.keep_only_entries();
  if (ds.stats_.degenerate > 0)
    spdlog::warn("{}: dropped {} degenerate boxes (zero width or height after clipping to the image)", opt.anno_path,
                 ds.stats_.degenerate);
  if (ds.stats_.clipped > 0) spdlog::info("{}: clipped {} boxes to their image", opt.anno_path, ds.stats_.clipped);
  spdlog::info("{}: {} images, {} boxes, {} classes ({} crowd boxes ignored, {} empty images skipped)", opt.anno_path,
               ds.stats_.images, ds.stats_.boxes, ds.num_classes(), ds.stats_.crowd, ds.stats_.skipped_empty);
  return ds;
}

// The file shrinks to the kept images and their annotations, so that an
// evaluation against file() scores exactly the images the loader reads.
void CocoDataset::keep_only_entries() {
  const size_t total = file_.images.size();
  std::unordered_set<int64_t> kept_ids;
  std::vector<CocoImage> images;
  for (auto& e : entries_) {
    kept_ids.insert(file_.images[e.image_index].id);
    images.push_back(file_.images[e.image_index]);
    e.image_index = images.size() - 1;
  }
  std::vector<CocoAnnotation> annotations;
  for (const auto& a : file_.annotations)
    if (kept_ids.count(a.image_id)) annotations.push_back(a);
  file_.images = std::move(images);
  file_.annotations = std::move(annotations);
  spdlog::info("{}: sample_num {}: the first {} of {} images", opt_.anno_path, opt_.sample_num, entries_.size(), total);
}

int64_t CocoDataset::label_of(int64_t category_id) const {
  const auto it = label_of_.find(category_id);
  if (it == label_of_.end()) fail(opt_.anno_path, ": unknown category id ", category_id);
  return it->second;
}

std::string CocoDataset::image_path(size_t i) const {
  return (std::filesystem::path(opt_.image_dir) / image(i).file_name).string();
}

bool jpeg_truncated(const std::vector<unsigned char>& bytes) {
  if (bytes.size() < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;  // not a JPEG
  size_t end = bytes.size();
  while (end > 2 &&
         (bytes[end - 1] == 0x00 || bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x20))
    --end;  // padding some writers append after the marker
  return !(end >= 4 && bytes[end - 2] == 0xFF && bytes[end - 1] == 0xD9);
}

bool CocoDataset::warn_once(int64_t image_id) const {
  std::lock_guard<std::mutex> lock(decode_->mu);
  return decode_->warned.insert(image_id).second;
}

Sample CocoDataset::load_sample(size_t i) const {
  const std::string path = image_path(i);
  const CocoImage& im = image(i);
  std::vector<unsigned char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot decode image '", path, "' (image id ", im.id, "): no such file");
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  cv::Mat bgr = bytes.empty() ? cv::Mat() : cv::imdecode(bytes, cv::IMREAD_COLOR);
  if (bgr.empty()) fail("cannot decode image '", path, "' (image id ", im.id, "): corrupt or unsupported file");
  if (jpeg_truncated(bytes)) {
    if (opt_.strict)
      fail("image '", path, "' (image id ", im.id, ") is truncated (the JPEG ends before its end marker)");
    ++decode_->truncated;
    if (warn_once(im.id))
      spdlog::warn("image '{}' (image id {}) is truncated; its missing part decodes grey ({} such images so far)", path,
                   im.id, decode_->truncated.load());
  }
  Sample s;
  s.image_id = image(i).id;
  s.orig_width = bgr.cols;
  s.orig_height = bgr.rows;
  cv::cvtColor(bgr, s.image, cv::COLOR_BGR2RGB);
  s.boxes = boxes(i);
  s.labels = labels(i);
  // Annotations are in the JSON's width/height; rescale if the file differs.
  if (im.width > 0 && im.height > 0 && (im.width != bgr.cols || im.height != bgr.rows)) {
    if (opt_.strict)
      fail(opt_.anno_path, ": image id ", im.id, " ('", path, "') is declared ", im.width, "x", im.height,
           " but decodes as ", bgr.cols, "x", bgr.rows);
    ++decode_->size_mismatch;
    if (warn_once(im.id))
      spdlog::warn(
          "{}: image id {} ('{}') is declared {}x{} but decodes as {}x{}; its boxes are rescaled to the "
          "decoded size",
          opt_.anno_path, im.id, path, im.width, im.height, bgr.cols, bgr.rows);
    const float sx = static_cast<float>(bgr.cols) / im.width, sy = static_cast<float>(bgr.rows) / im.height;
    const float W = static_cast<float>(bgr.cols), H = static_cast<float>(bgr.rows);
    std::vector<Box> boxes;
    std::vector<int64_t> labels;
    for (size_t k = 0; k < s.boxes.size(); ++k) {  // clipped and checked again after the rescale
      const Box& b = s.boxes[k];
      const Box r{std::clamp(b.x1 * sx, 0.f, W), std::clamp(b.y1 * sy, 0.f, H), std::clamp(b.x2 * sx, 0.f, W),
                  std::clamp(b.y2 * sy, 0.f, H)};
      if (r.width() < kMinBoxSide || r.height() < kMinBoxSide) {
        ++decode_->boxes_dropped;
        continue;
      }
      boxes.push_back(r);
      labels.push_back(s.labels[k]);
    }
    s.boxes = std::move(boxes);
    s.labels = std::move(labels);
  }
  decode_->boxes_kept += static_cast<int64_t>(s.boxes.size());
  return s;
}

}  // namespace compress
