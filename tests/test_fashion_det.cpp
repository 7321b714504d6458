#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "train/data/coco_json.h"
#include "train/data/fashion_det.h"

using namespace compress;
namespace fs = std::filesystem;

namespace {
constexpr int kSize = 128;

const IdxImages& train_items() {
  static const IdxImages items =
      read_idx_images(std::string(testutil::kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
  return items;
}
const std::vector<uint8_t>& train_labels() {
  static const auto labels = read_idx_labels(std::string(testutil::kFashionMnistDir) + "/train-labels-idx1-ubyte.gz");
  return labels;
}
}  // namespace

TEST(IdxReader, ReadsFashionMnist) {
  const auto& im = train_items();
  EXPECT_EQ(im.count, 60000);
  EXPECT_EQ(im.rows, 28);
  EXPECT_EQ(im.cols, 28);
  ASSERT_EQ(train_labels().size(), 60000u);
  EXPECT_EQ(train_labels()[0], 9);  // the first training item is an ankle boot
}

TEST(FashionDet, BoxesAreTightAroundVisiblePixels) {
  int items = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const ComposedImage c = compose_fashion_image(train_items(), train_labels(), kSize, seed);
    ASSERT_GE(c.items.size(), 1u);
    ASSERT_LE(c.items.size(), 6u);
    for (size_t k = 0; k < c.items.size(); ++k) {
      const auto& it = c.items[k];
      const uint16_t tag = static_cast<uint16_t>(k + 1);
      EXPECT_EQ(it.label, train_labels()[it.source_index]);
      if (it.visible_pixels == 0) continue;
      ++items;
      bool top = false, bottom = false, left = false, right = false;
      int64_t count = 0;
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
          if (c.owner.at<uint16_t>(y, x) != tag) continue;
          ++count;
          ASSERT_TRUE(x >= it.x1 && x <= it.x2 && y >= it.y1 && y <= it.y2);  // nothing visible outside
          top |= y == it.y1, bottom |= y == it.y2, left |= x == it.x1, right |= x == it.x2;
        }
      EXPECT_TRUE(top && bottom && left && right) << "box not tight, seed " << seed;  // every edge touches
      EXPECT_EQ(count, it.visible_pixels);
    }
  }
  EXPECT_GT(items, 60);
}

TEST(FashionDet, ObjectSizesSpanSmallToLarge) {
  // At 320 px: COCO's small (< 32^2), medium and large (> 96^2) must all occur.
  int small = 0, medium = 0, large = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const ComposedImage c = compose_fashion_image(train_items(), train_labels(), 320, seed);
    for (const auto& it : c.items) {
      const double area = double(it.x2 - it.x1 + 1) * (it.y2 - it.y1 + 1);
      EXPECT_LE(std::max(it.x2 - it.x1, it.y2 - it.y1) + 1, static_cast<int>(0.6 * 320 * 1.12) + 1);
      (area < 32 * 32 ? small : area < 96 * 96 ? medium : large)++;
    }
  }
  EXPECT_GT(small, 10);
  EXPECT_GT(medium, 10);
  EXPECT_GT(large, 10);
}

TEST(FashionDet, SameArgumentsGiveIdenticalFiles) {
  testutil::TempDir a, b;
  FashionDetOptions o;
  o.image_size = 96, o.num_train = 6, o.num_val = 3, o.seed = 7;
  o.out_dir = a.path().string(), o.threads = 1;
  generate_fashion_det(o);
  o.out_dir = b.path().string(), o.threads = 2;  // thread count must not matter
  generate_fashion_det(o);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a.path())) {
    if (!e.is_regular_file()) continue;
    const auto rel = fs::relative(e.path(), a.path());
    EXPECT_EQ(testutil::read_text(e.path().string()), testutil::read_text((b.path() / rel).string())) << rel;
    ++files;
  }
  EXPECT_EQ(files, 6 + 3 + 2);
  // A different seed gives different data.
  testutil::TempDir c;
  o.out_dir = c.path().string(), o.seed = 8;
  generate_fashion_det(o);
  EXPECT_NE(testutil::read_text(a.file("annotations/instances_train.json")),
            testutil::read_text(c.file("annotations/instances_train.json")));
}

TEST(FashionDet, WritesValidCocoWithClassNamesAndSplitSources) {
  testutil::TempDir d;
  FashionDetOptions o;
  o.image_size = 96, o.num_train = 5, o.num_val = 4, o.out_dir = d.path().string();
  generate_fashion_det(o);
  const CocoFile train = read_coco_instances(d.file("annotations/instances_train.json"));
  const CocoFile val = read_coco_instances(d.file("annotations/instances_val.json"));
  EXPECT_EQ(train.images.size(), 5u);
  EXPECT_EQ(val.images.size(), 4u);
  ASSERT_EQ(train.categories.size(), 10u);
  EXPECT_EQ(train.categories[0].name, "T-shirt/top");
  EXPECT_EQ(train.categories[9].name, "Ankle boot");
  EXPECT_GE(train.annotations.size(), 5u);
  for (const auto& a : train.annotations) {
    EXPECT_GT(a.bbox[2], 0);
    EXPECT_LE(a.bbox[0] + a.bbox[2], 96);
    EXPECT_LE(a.area, a.bbox[2] * a.bbox[3]);  // visible pixels fit in their box
  }
  // Train images use the train split's items, val images the t10k split's.
  const auto ti = read_json_file(d.file("annotations/instances_train.json"))["info"]["source"];
  const auto vi = read_json_file(d.file("annotations/instances_val.json"))["info"]["source"];
  EXPECT_EQ(ti, "train");
  EXPECT_EQ(vi, "t10k");
}
