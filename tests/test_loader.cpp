#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/data/fashion_det.h"
#include "train/data/reader.h"
#include "train/data/reader_preview.h"
#include "train/util/error.h"

using namespace compress;

namespace {

// A 12-image fashion-det set shared by the tests of this file.
class LoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testutil::TempDir();
    FashionDetOptions o;
    o.image_size = 64, o.num_train = 12, o.num_val = 2, o.out_dir = dir_->path().string();
    generate_fashion_det(o);
  }
  static void TearDownTestSuite() { delete dir_; }

  static Config config(const std::vector<std::string>& extra = {}, const std::string& yaml = "") {
    std::vector<std::string> o = {
        "TrainReader.dataset.dataset_dir=" + dir_->path().string(), "TrainReader.dataset.image_dir=train",
        "TrainReader.dataset.anno_path=annotations/instances_train.json", "TrainReader.batch_size=4",
        "TrainReader.sample_transforms.ResizeImage.target_size=48"};
    o.insert(o.end(), extra.begin(), extra.end());
    return config_from_string(yaml, o);
  }

  static testutil::TempDir* dir_;
};
testutil::TempDir* LoaderTest::dir_ = nullptr;

std::vector<Batch> one_epoch(DataLoader& l, int64_t epoch) {
  std::vector<Batch> out;
  l.start_epoch(epoch);
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

TEST_F(LoaderTest, BatchesHaveTheDocumentedShapes) {
  const Config cfg = config();
  auto loader = make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
  const auto batches = one_epoch(*loader, 0);
  ASSERT_EQ(batches.size(), 3u);  // 12 images / 4, drop_last
  const Batch& b = batches[0];
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 3, 48, 48}));
  EXPECT_EQ(b.boxes.size(0), 4);
  EXPECT_EQ(b.boxes.size(2), 4);
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t n = b.num_boxes[i].item<int64_t>();
    EXPECT_GE(n, 1);
    // Padding: label -1 and a zero box past the real ones.
    for (int64_t k = n; k < b.labels.size(1); ++k) EXPECT_EQ(b.labels[i][k].item<int64_t>(), -1);
    for (int64_t k = 0; k < n; ++k) {
      const auto box = b.boxes[i][k];
      EXPECT_LT(box[0].item<float>(), box[2].item<float>());
      EXPECT_LE(box[2].item<float>(), 48.0f + 1e-3f);
    }
    EXPECT_EQ(b.orig_sizes[i][1].item<int64_t>(), 64);
  }
}

TEST_F(LoaderTest, DeterministicForASeedWhateverTheWorkerCount) {
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 2}) {
    const Config cfg = config({"TrainReader.worker_num=" + std::to_string(workers)});
    auto loader = make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
    runs.push_back(one_epoch(*loader, 1));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      EXPECT_EQ(runs[r][i].image_ids, runs[0][i].image_ids);
      EXPECT_TRUE(torch::equal(runs[r][i].images, runs[0][i].images));
      EXPECT_TRUE(torch::equal(runs[r][i].boxes, runs[0][i].boxes));
    }
  }
}

TEST_F(LoaderTest, EpochsReshuffleAndSeedsDiffer) {
  const Config cfg = config();
  auto loader = make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
  EXPECT_NE(loader->epoch_order(0), loader->epoch_order(1));
  const Config other = config({"seed=5"});
  auto l2 = make_loader(other, "TrainReader", load_dataset(other, "TrainReader"));
  EXPECT_NE(loader->epoch_order(0), l2->epoch_order(0));
}

TEST_F(LoaderTest, RanksReadDisjointShards) {
  const Config cfg = config();
  auto ds = load_dataset(cfg, "TrainReader");
  auto pipe = std::make_shared<const Pipeline>(make_pipeline(cfg.at("TrainReader")));
  std::vector<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    DataLoader l(ds, pipe, loader_options(cfg, "TrainReader", rank, 3));
    const auto mine = l.epoch_order(2);
    EXPECT_EQ(mine.size(), 4u);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(all[i], i);  // disjoint and complete
}

TEST_F(LoaderTest, UnreadableImagesAreSkippedOrFatalWhenStrict) {
  testutil::TempDir d;
  // Copy the set, then corrupt one image.
  std::filesystem::copy(dir_->path(), d.path(), std::filesystem::copy_options::recursive);
  testutil::write_text(d.file("train/000003.jpg"), "not a jpeg");
  std::vector<std::string> o = {"TrainReader.dataset.dataset_dir=" + d.path().string(), "TrainReader.shuffle=false"};
  Config cfg = config(o);
  auto loader = make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
  const auto batches = one_epoch(*loader, 0);
  EXPECT_EQ(loader->skipped_images(), 1);
  EXPECT_EQ(batches[0].size(), 3);  // the batch that held image 3 is one short
  o.push_back("TrainReader.dataset.strict=true");
  cfg = config(o);
  auto strict = make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
  strict->start_epoch(0);
  try {
    while (strict->next()) {
    }
    FAIL() << "strict mode must fail on a corrupt image";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("000003.jpg"), std::string::npos) << e.what();
  }
}

namespace {
// A YOLOv3 reader that mixes images in epoch 0 only.
const char* kMixupYaml =
    "architecture: YOLOv3\n"
    "TrainReader:\n"
    "  mixup_epoch: 1\n"
    "  sample_transforms:\n"
    "    - !MixupImage {alpha: 1.5, beta: 1.5}\n"
    "    - !ResizeImage {target_size: 48}\n"
    "    - !NormalizeImage {}\n";

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_F(LoaderTest, MixupMixesUntilMixupEpochWithWeightsSummingToOne) {
  const Config cfg = config({"TrainReader.worker_num=0"}, kMixupYaml);
  auto ds = load_dataset(cfg, "TrainReader");
  auto loader = make_loader(cfg, "TrainReader", ds);
  std::map<int64_t, int64_t> own;  // image id -> its annotated box count
  for (size_t i = 0; i < ds->size(); ++i) own[ds->image(i).id] = static_cast<int64_t>(ds->boxes(i).size());
  for (int64_t epoch : {0, 1}) {
    for (const Batch& b : one_epoch(*loader, epoch)) {
      for (int64_t i = 0; i < b.size(); ++i) {
        const int64_t n = b.num_boxes[i].item<int64_t>(), mine = own.at(b.image_ids[i]);
        const auto w = b.scores[i];
        ASSERT_GT(n, 0);
        EXPECT_GT(w.slice(0, 0, n).min().item<float>(), 0.f);
        EXPECT_EQ(w.slice(0, n).abs().sum().item<float>(), 0.f);  // padding weighs 0
        if (epoch == 1) {
          EXPECT_EQ(n, mine);
          EXPECT_TRUE((w.slice(0, 0, n) == 1).all().item<bool>());
          continue;
        }
        // Mixed: the image's own boxes first at f, the partner's after at 1 - f.
        ASSERT_GT(n, mine) << b.image_ids[i];
        const float f = w[0].item<float>();
        EXPECT_TRUE((w.slice(0, 0, mine) == f).all().item<bool>());
        EXPECT_TRUE(torch::allclose(w.slice(0, mine, n), torch::full({n - mine}, 1 - f)));
      }
    }
  }
  // The partner and factor come from the sample's seeded RNG: worker threads change nothing.
  const Config threaded = config({"TrainReader.worker_num=2"}, kMixupYaml);
  auto l2 = make_loader(threaded, "TrainReader", ds);
  const auto a = one_epoch(*loader, 0), b = one_epoch(*l2, 0);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images));
    EXPECT_TRUE(torch::equal(a[i].scores, b[i].scores));
  }
}

TEST_F(LoaderTest, MixupMisuseIsAClearConfigError) {
  auto load = [&](const std::vector<std::string>& o, const std::string& yaml) {
    return error_of([&] {
      const Config cfg = config(o, yaml);
      make_loader(cfg, "TrainReader", load_dataset(cfg, "TrainReader"));
    });
  };
  std::string e = load({"TrainReader.mixup_epoch=-1"}, kMixupYaml);
  EXPECT_NE(e.find("TrainReader.mixup_epoch is -1"), std::string::npos) << e;
  e = load({"architecture=SSD"}, kMixupYaml);
  EXPECT_NE(e.find("TrainReader.sample_transforms: MixupImage needs a loss"), std::string::npos) << e;
  EXPECT_NE(e.find("SSD's does not"), std::string::npos) << e;
  e = load({},
           "architecture: YOLOv3\nTrainReader:\n  mixup_epoch: 5\n  sample_transforms:\n"
           "    - !ResizeImage {target_size: 48}\n    - !MixupImage {}\n    - !NormalizeImage {}\n");
  EXPECT_NE(e.find("MixupImage must come first"), std::string::npos) << e;
  e = error_of([&] {
    const Config cfg = config({}, "architecture: YOLOv3\nEvalReader:\n  sample_transforms:\n    - !MixupImage {}\n");
    make_loader(cfg, "EvalReader", load_dataset(cfg, "TrainReader"));
  });
  EXPECT_NE(e.find("EvalReader.sample_transforms: MixupImage is a training augmentation"), std::string::npos) << e;
}

TEST_F(LoaderTest, AnUnreadableMixupPartnerLeavesTheImageUnmixed) {
  testutil::TempDir d;
  std::filesystem::copy(dir_->path(), d.path(), std::filesystem::copy_options::recursive);
  testutil::write_text(d.file("train/000003.jpg"), "not a jpeg");
  std::vector<std::string> o = {"TrainReader.dataset.dataset_dir=" + d.path().string(), "TrainReader.worker_num=0",
                                "TrainReader.mixup_epoch=5"};
  Config cfg = config(o, kMixupYaml);
  auto ds = load_dataset(cfg, "TrainReader");
  auto loader = make_loader(cfg, "TrainReader", ds);
  int64_t unmixed = 0, mixed = 0;
  for (int64_t epoch = 0; epoch < 5; ++epoch)
    for (const Batch& b : one_epoch(*loader, epoch))
      for (int64_t i = 0; i < b.size(); ++i) {
        const int64_t n = b.num_boxes[i].item<int64_t>();
        const bool all_one = (b.scores[i].slice(0, 0, n) == 1).all().item<bool>();
        (all_one ? unmixed : mixed) += 1;
      }
  EXPECT_GT(unmixed, 0);          // those that drew image 3 as their partner
  EXPECT_GT(mixed, 4 * unmixed);  // a partner is image 3 about 1 time in 11
  // Strict: the corrupt file is an error naming it, whether drawn as a sample or a partner.
  o.push_back("TrainReader.dataset.strict=true");
  cfg = config(o, kMixupYaml);
  auto strict = make_loader(cfg, "TrainReader", ds);
  EXPECT_NE(error_of([&] { one_epoch(*strict, 0); }).find("000003.jpg"), std::string::npos);
}

TEST_F(LoaderTest, PreviewShowsWhatTheModelSees) {
  // Normalization only (resizing 64 px files to 64 copies them): the preview
  // undoes it back to the decoded file's pixels.
  const Config plain = config({"TrainReader.shuffle=false", "TrainReader.worker_num=0",
                               "TrainReader.sample_transforms.ResizeImage.target_size=64"},
                              "TrainReader:\n  sample_transforms:\n    - !ResizeImage {}\n    - !NormalizeImage {}\n");
  auto ds = load_dataset(plain, "TrainReader");
  const auto p = reader_preview(plain, "TrainReader", 0, 5);
  ASSERT_EQ(p.tiles.size(), 5u);
  EXPECT_EQ(p.class_names, ds->class_names());
  for (size_t k = 0; k < 5; ++k) {
    const auto& t = p.tiles[k];
    EXPECT_EQ(t.image_id, ds->image(k).id);
    const cv::Mat file = cv::imread(ds->image_path(k), cv::IMREAD_COLOR);
    ASSERT_EQ(t.bgr.size(), file.size());
    EXPECT_LE(cv::norm(t.bgr, file, cv::NORM_INF), 1.0) << k;  // float round trip
    ASSERT_EQ(t.boxes.size(), ds->boxes(k).size());
    for (size_t j = 0; j < t.boxes.size(); ++j) {
      EXPECT_FLOAT_EQ(t.boxes[j].x2, ds->boxes(k)[j].x2);
      EXPECT_EQ(t.boxes[j].label, ds->labels(k)[j]);
      EXPECT_EQ(t.boxes[j].score, -1.f);  // ground truth at full weight: no number drawn
    }
  }
  const cv::Mat grid = draw_preview(p.tiles, p.class_names, 100);
  EXPECT_EQ(grid.cols, 400);  // four to a row
  EXPECT_EQ(grid.rows, 200);

  // With mixup every box carries its weight, the image's own and its partner's summing to 1.
  const Config mixed = config({"TrainReader.worker_num=0"}, kMixupYaml);
  for (const auto& t : reader_preview(mixed, "TrainReader", 0, 4).tiles) {
    std::set<float> w;
    for (const auto& b : t.boxes) w.insert(b.score);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_NEAR(*w.begin() + *w.rbegin(), 1.f, 1e-6);
  }
  // No NormalizeImage to undo: an error naming the section.
  const Config raw = config({}, "TrainReader:\n  sample_transforms:\n    - !ResizeImage {target_size: 48}\n");
  EXPECT_NE(error_of([&] { reader_preview(raw, "TrainReader", 0, 1); })
                .find("TrainReader.sample_transforms has no "
                      "NormalizeImage"),
            std::string::npos);
}

TEST(Collate, RejectsMixedSizes) {
  std::vector<Sample> s(2);
  s[0].image = cv::Mat(4, 4, CV_32FC3, cv::Scalar(0));
  s[1].image = cv::Mat(4, 5, CV_32FC3, cv::Scalar(0));
  EXPECT_THROW(collate(s), c10::Error);
}
