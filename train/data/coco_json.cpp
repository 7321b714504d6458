#include "train/data/coco_json.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "train/util/atomic_file.h"
#include "train/util/error.h"

namespace compress {
using nlohmann::json;

json read_json_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) fail("'", path, "' is a directory; give a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '", path, "': ", std::filesystem::exists(path) ? "permission denied" : "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // Translate the byte offset into line:column, which is what an editor shows.
    const size_t byte = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    size_t line = 1, col = 1;
    for (size_t i = 0; i < byte; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string msg = e.what();
    const auto colon = msg.find("parse error");
    if (colon != std::string::npos) msg = msg.substr(colon);
    fail(path, ":", line, ":", col, ": malformed JSON (byte ", e.byte, "): ", msg);
  } catch (const json::exception& e) {  // e.g. a number beyond double's range (1e400)
    fail(path, ": malformed JSON: ", e.what());
  }
}

namespace {

// Field accessors that say which record and which field is wrong.
const json& field(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) fail(where, ": expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) fail(where, ": missing field '", key, "'");
  return *it;
}

int64_t int_field(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number_integer()) fail(where, ".", key, ": expected an integer, got ", v.dump());
  return v.get<int64_t>();
}

double number_field(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number()) fail(where, ".", key, ": expected a number, got ", v.dump());
  return v.get<double>();
}

void bbox_field(const json& obj, const std::string& where, double out[4]) {
  const json& b = field(obj, "bbox", where);
  if (!b.is_array() || b.size() != 4) fail(where, ".bbox: expected [x, y, w, h], got ", b.dump());
  for (int k = 0; k < 4; ++k) {
    if (!b[k].is_number()) fail(where, ".bbox: expected numbers, got ", b.dump());
    out[k] = b[k].get<double>();
  }
}

const json& array_field(const json& root, const char* key, const std::string& path) {
  const json& v = field(root, key, path);
  if (!v.is_array()) fail(path, ": field '", key, "' must be a list");
  return v;
}

}  // namespace

CocoFile read_coco_instances(const std::string& path) {
  const json root = read_json_file(path);
  if (!root.is_object()) fail(path, ": expected a COCO instances object with images, annotations, categories");
  CocoFile f;
  f.path = path;
  std::unordered_set<int64_t> image_ids, cat_ids;
  const json& images = array_field(root, "images", path);
  f.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string where = path + ": images[" + std::to_string(i) + "]";
    CocoImage im;
    im.id = int_field(images[i], "id", where);
    const json& fn = field(images[i], "file_name", where);
    if (!fn.is_string()) fail(where, ".file_name: expected a string");
    im.file_name = fn.get<std::string>();
    im.width = static_cast<int>(int_field(images[i], "width", where));
    im.height = static_cast<int>(int_field(images[i], "height", where));
    if (!image_ids.insert(im.id).second) fail(where, ": duplicate image id ", im.id);
    f.images.push_back(std::move(im));
  }
  const json& cats = array_field(root, "categories", path);
  for (size_t i = 0; i < cats.size(); ++i) {
    const std::string where = path + ": categories[" + std::to_string(i) + "]";
    CocoCategory c;
    c.id = int_field(cats[i], "id", where);
    const auto it = cats[i].find("name");
    c.name = (it != cats[i].end() && it->is_string()) ? it->get<std::string>() : std::to_string(c.id);
    if (!cat_ids.insert(c.id).second) fail(where, ": duplicate category id ", c.id);
    f.categories.push_back(std::move(c));
  }
  // Result-style files (a list) have no annotations key; instances files must.
  const json& anns = array_field(root, "annotations", path);
  f.annotations.reserve(anns.size());
  for (size_t i = 0; i < anns.size(); ++i) {
    const std::string where = path + ": annotations[" + std::to_string(i) + "]";
    CocoAnnotation a;
    a.id = int_field(anns[i], "id", where);
    const std::string named = path + ": annotation id " + std::to_string(a.id);
    a.image_id = int_field(anns[i], "image_id", named);
    a.category_id = int_field(anns[i], "category_id", named);
    bbox_field(anns[i], named, a.bbox);
    a.area = anns[i].contains("area") ? number_field(anns[i], "area", named) : a.bbox[2] * a.bbox[3];
    if (anns[i].contains("iscrowd")) a.iscrowd = int_field(anns[i], "iscrowd", named) != 0;
    if (!image_ids.count(a.image_id)) fail(named, ": refers to unknown image id ", a.image_id);
    if (!cat_ids.count(a.category_id)) fail(named, ": refers to unknown category id ", a.category_id);
    f.annotations.push_back(a);
  }
  return f;
}

std::vector<CocoDetection> read_coco_results(const std::string& path) {
  const json root = read_json_file(path);
  if (!root.is_array()) fail(path, ": a COCO results file must be a JSON list of detections");
  std::vector<CocoDetection> out;
  out.reserve(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = path + ": [" + std::to_string(i) + "]";
    CocoDetection d;
    d.image_id = int_field(root[i], "image_id", where);
    d.category_id = int_field(root[i], "category_id", where);
    bbox_field(root[i], where, d.bbox);
    d.score = number_field(root[i], "score", where);
    out.push_back(d);
  }
  return out;
}

std::string set_aside(const std::string& path) {
  const std::string prev = path + ".prev";
  std::error_code ec;
  std::filesystem::rename(path, prev, ec);
  if (ec) fail("cannot rename '", path, "' to '", prev, "': ", ec.message());
  return prev;
}

bool read_earlier_results(const std::string& path, const nlohmann::json& key, const std::string& what,
                          const std::function<void(const nlohmann::json&)>& read) {
  if (!std::filesystem::exists(path)) return false;
  std::string why;
  try {
    std::ifstream in(path);
    const auto j = json::parse(in);
    if (j.contains("key") && j.at("key") == key) {
      read(j);
      return true;
    }
    why = "comes from other weights or settings";
  } catch (const std::exception& e) {
    why = std::string("is unreadable (") + e.what() + ")";
  }
  spdlog::warn("'{}' {}; kept as '{}', measuring every {} again", path, why, set_aside(path), what);
  return false;
}

void write_coco_results(const std::string& path, const std::vector<CocoDetection>& dets) {
  json arr = json::array();
  for (const auto& d : dets) {
    // Rounded like the reference's result files; full precision buys nothing.
    auto r = [](double v) { return std::round(v * 1000.0) / 1000.0; };
    arr.push_back({{"image_id", d.image_id},
                   {"category_id", d.category_id},
                   {"bbox", {r(d.bbox[0]), r(d.bbox[1]), r(d.bbox[2]), r(d.bbox[3])}},
                   {"score", std::round(d.score * 1e5) / 1e5}});
  }
  write_file_atomic(path, arr.dump());
}

}  // namespace compress
