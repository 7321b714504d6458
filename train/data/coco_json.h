// Plain COCO instances/results files: parsing with errors that name the file,
// the JSON position or the offending record. No torch here.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace compress {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int width = 0, height = 0;
};

struct CocoAnnotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  double bbox[4] = {0, 0, 0, 0};  // x, y, w, h in pixels
  double area = 0;                // the file's `area` (segmentation area in COCO); w*h if absent
  bool iscrowd = false;
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoFile {
  std::string path;
  std::vector<CocoImage> images;
  std::vector<CocoAnnotation> annotations;
  std::vector<CocoCategory> categories;
};

// One entry of a COCO results file.
struct CocoDetection {
  int64_t image_id = 0, category_id = 0;
  double bbox[4] = {0, 0, 0, 0};  // x, y, w, h
  double score = 0;
};

// Reads and parses a JSON file; a syntax error names the line, column and byte.
nlohmann::json read_json_file(const std::string& path);

// Reads an instances_*.json. Checks that every annotation refers to a known
// image and category (the error names the annotation id).
CocoFile read_coco_instances(const std::string& path);

// Reads a results file: a JSON list of {image_id, category_id, bbox, score}.
std::vector<CocoDetection> read_coco_results(const std::string& path);
void write_coco_results(const std::string& path, const std::vector<CocoDetection>& dets);

// Renames `path` to `path.prev` (replacing an older one) and returns the new
// name: results a rerun cannot reuse are kept rather than overwritten.
std::string set_aside(const std::string& path);

// An earlier run's results in `path` (JSON with a "key"), handed to `read`
// when the key equals `key`; true then. A file made with another key, or one
// that does not parse or read, is set aside with a warning saying that every
// `what` ("conv", "ratio") is measured again; false then, as without a file.
bool read_earlier_results(const std::string& path, const nlohmann::json& key, const std::string& what,
                          const std::function<void(const nlohmann::json&)>& read);

}  // namespace compress
