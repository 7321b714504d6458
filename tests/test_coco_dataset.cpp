#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/data/coco_dataset.h"
#include "train/data/reader.h"
#include "train/eval/coco_eval.h"
#include "train/util/error.h"

using namespace compress;
using testutil::TempDir;
using testutil::write_text;

namespace {

// Three images (one without objects), non-contiguous category ids, a crowd box,
// a box that sticks out of its image and a degenerate one.
const char* kInstances = R"({
  "images": [{"id": 10, "file_name": "a.png", "width": 40, "height": 30},
             {"id": 11, "file_name": "b.png", "width": 40, "height": 30},
             {"id": 12, "file_name": "c.png", "width": 40, "height": 30}],
  "categories": [{"id": 90, "name": "z"}, {"id": 3, "name": "a"}, {"id": 7, "name": "m"}],
  "annotations": [
    {"id": 1, "image_id": 10, "category_id": 7,  "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0},
    {"id": 2, "image_id": 10, "category_id": 90, "bbox": [30, 20, 20, 20], "area": 100, "iscrowd": 0},
    {"id": 3, "image_id": 10, "category_id": 3,  "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 1},
    {"id": 4, "image_id": 11, "category_id": 3,  "bbox": [45, 5, 10, 10], "area": 100, "iscrowd": 0}
  ]})";

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(CocoDataset, MapsCategoriesToContiguousLabelsAndBack) {
  TempDir d;
  write_text(d.file("ann.json"), kInstances);
  const auto ds = CocoDataset::load({d.path().string(), d.file("ann.json"), /*skip_empty=*/false, false});
  ASSERT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.category_id(0), 3);
  EXPECT_EQ(ds.category_id(1), 7);
  EXPECT_EQ(ds.category_id(2), 90);
  EXPECT_EQ(ds.label_of(90), 2);
  EXPECT_EQ(ds.class_names()[0], "a");
  EXPECT_THROW(ds.label_of(4), Error);
}

TEST(CocoDataset, CrowdClippingDegenerateAndEmptyImages) {
  TempDir d;
  write_text(d.file("ann.json"), kInstances);
  const auto ds = CocoDataset::load({d.path().string(), d.file("ann.json"), /*skip_empty=*/true, false});
  // Image 11's only box lies outside the 40-wide image (degenerate after clipping);
  // image 12 has none: both are skipped for training.
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.image(0).id, 10);
  ASSERT_EQ(ds.boxes(0).size(), 2u);  // the crowd box is not a target
  EXPECT_EQ(ds.stats().crowd, 1);
  EXPECT_EQ(ds.stats().degenerate, 1);
  EXPECT_EQ(ds.stats().clipped, 2);
  EXPECT_EQ(ds.stats().skipped_empty, 2);
  const Box& clipped = ds.boxes(0)[1];  // [30, 20, 50, 40] clipped to the 40x30 image
  EXPECT_FLOAT_EQ(clipped.x2, 40.f);
  EXPECT_FLOAT_EQ(clipped.y2, 30.f);
  EXPECT_EQ(ds.labels(0)[0], 1);  // category 7
  EXPECT_EQ(ds.labels(0)[1], 2);  // category 90

  const auto all = CocoDataset::load({d.path().string(), d.file("ann.json"), /*skip_empty=*/false, false});
  EXPECT_EQ(all.size(), 3u);
}

TEST(CocoDataset, SampleNumKeepsTheFirstImagesAndScoresOnlyThose) {
  TempDir d;
  write_text(d.file("ann.json"), kInstances);
  CocoDatasetOptions o{d.path().string(), d.file("ann.json"), /*skip_empty=*/false, false};
  const auto full = CocoDataset::load(o);
  o.sample_num = 1;
  const auto first = CocoDataset::load(o);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.image(0).id, 10);
  ASSERT_EQ(first.file().images.size(), 1u);
  ASSERT_EQ(first.file().annotations.size(), 3u);  // image 10's three, crowd included
  for (const auto& a : first.file().annotations) EXPECT_EQ(a.image_id, 10);
  EXPECT_EQ(first.boxes(0).size(), 2u);

  // Perfect detections of image 10 score AP 1 on the sample. Against the whole
  // file, category 3's GT in image 11 is missed: (1 + 1 + 0) / 3.
  std::vector<CocoDetection> dets;
  for (const auto& a : full.file().annotations)
    if (a.image_id == 10 && !a.iscrowd)
      dets.push_back({10, a.category_id, {a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3]}, 0.9});
  EXPECT_NEAR(evaluate_coco(first.file(), dets).stats.ap(), 1.0, 1e-9);
  EXPECT_NEAR(evaluate_coco(full.file(), dets).stats.ap(), 2.0 / 3.0, 1e-9);

  // skip_empty counts first: the first 2 trainable images are all there are.
  o.skip_empty = true;
  o.sample_num = 2;
  EXPECT_EQ(CocoDataset::load(o).size(), 1u);
  o.skip_empty = false;
  o.sample_num = 5;  // more than the file holds: everything
  EXPECT_EQ(CocoDataset::load(o).file().images.size(), 3u);

  // The config key, and its error.
  write_text(d.file("r.yml"), "EvalReader:\n  dataset: !COCODataSet {dataset_dir: " + d.path().string() +
                                  ", anno_path: ann.json, sample_num: 2}\n");
  EXPECT_EQ(dataset_options(load_config(d.file("r.yml")), "EvalReader").sample_num, 2);
  const std::string msg = error_of(
      [&] { dataset_options(load_config(d.file("r.yml"), {"EvalReader.dataset.sample_num=0"}), "EvalReader"); });
  EXPECT_NE(msg.find("EvalReader.dataset.sample_num is 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("r.yml"), std::string::npos) << msg;

  // What a saved measurement depends on: the images, not how fast they are read.
  const Config base = load_config(d.file("r.yml"));
  EXPECT_EQ(
      reader_identity(base, "EvalReader"),
      reader_identity(load_config(d.file("r.yml"), {"EvalReader.worker_num=7", "EvalReader.bufsize=9"}), "EvalReader"));
  EXPECT_NE(reader_identity(base, "EvalReader"),
            reader_identity(load_config(d.file("r.yml"), {"EvalReader.dataset.sample_num=1"}), "EvalReader"));
}

TEST(CocoDataset, MalformedJsonNamesFileAndPosition) {
  TempDir d;
  write_text(d.file("bad.json"), "{\n  \"images\": [\n    {\"id\": 1,,}\n  ]\n}\n");
  const std::string msg = error_of([&] { read_coco_instances(d.file("bad.json")); });
  EXPECT_NE(msg.find(d.file("bad.json") + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
}

TEST(CocoDataset, MissingFileAndFieldsAreNamed) {
  TempDir d;
  EXPECT_NE(error_of([&] { read_coco_instances(d.file("none.json")); }).find("no such file"), std::string::npos);
  write_text(d.file("nofield.json"),
             R"({"images": [{"id": 1, "width": 3, "height": 3}], "categories": [], "annotations": []})");
  const std::string msg = error_of([&] { read_coco_instances(d.file("nofield.json")); });
  EXPECT_NE(msg.find("images[0]: missing field 'file_name'"), std::string::npos) << msg;
  write_text(d.file("badbox.json"),
             R"({"images": [{"id": 1, "file_name": "x", "width": 3, "height": 3}], "categories": [{"id": 1}],
                 "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]})");
  const std::string m2 = error_of([&] { read_coco_instances(d.file("badbox.json")); });
  EXPECT_NE(m2.find("annotation id 5.bbox"), std::string::npos) << m2;
}

TEST(CocoDataset, UnknownImageOrCategoryNamesTheAnnotation) {
  TempDir d;
  write_text(d.file("img.json"), R"({"images": [{"id": 1, "file_name": "x", "width": 3, "height": 3}],
    "categories": [{"id": 1}], "annotations": [{"id": 77, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]})");
  const std::string m1 = error_of([&] { read_coco_instances(d.file("img.json")); });
  EXPECT_NE(m1.find("annotation id 77"), std::string::npos) << m1;
  EXPECT_NE(m1.find("unknown image id 2"), std::string::npos) << m1;
  write_text(d.file("cat.json"), R"({"images": [{"id": 1, "file_name": "x", "width": 3, "height": 3}],
    "categories": [{"id": 1}], "annotations": [{"id": 78, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}]})");
  const std::string m2 = error_of([&] { read_coco_instances(d.file("cat.json")); });
  EXPECT_NE(m2.find("annotation id 78: refers to unknown category id 9"), std::string::npos) << m2;
}

TEST(CocoDataset, CorruptImageIsAnErrorNamingTheFile) {
  TempDir d;
  write_text(d.file("ann.json"), kInstances);
  write_text(d.file("a.png"), "this is not a png");
  const auto ds = CocoDataset::load({d.path().string(), d.file("ann.json"), true, false});
  const std::string msg = error_of([&] { ds.load_sample(0); });
  EXPECT_NE(msg.find("a.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}
