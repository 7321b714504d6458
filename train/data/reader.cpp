#include "train/data/reader.h"

#include <yaml-cpp/yaml.h>
#include <filesystem>

#include "train/util/error.h"

namespace compress {

CocoDatasetOptions dataset_options(const Config& cfg, const std::string& section) {
  namespace fs = std::filesystem;
  const std::string ds = section + ".dataset";
  const fs::path root = cfg.get<std::string>(ds + ".dataset_dir");
  CocoDatasetOptions o;
  const fs::path img = cfg.get<std::string>(ds + ".image_dir"), ann = cfg.get<std::string>(ds + ".anno_path");
  if (ann.empty()) fail("config '", cfg.source(), "': ", ds, ".anno_path is not set");
  o.image_dir = (img.is_absolute() ? img : root / img).string();
  o.anno_path = (ann.is_absolute() ? ann : root / ann).string();
  o.skip_empty = cfg.get<bool>(ds + ".skip_empty");
  o.strict = cfg.get<bool>(ds + ".strict");
  o.sample_num = cfg.get<int64_t>(ds + ".sample_num");
  if (o.sample_num == 0 || o.sample_num < -1)
    fail("config '", cfg.source(), "': ", ds, ".sample_num is ", o.sample_num,
         "; give a number of images, or -1 for all");
  return o;
}

std::shared_ptr<const CocoDataset> load_dataset(const Config& cfg, const std::string& section) {
  return std::make_shared<const CocoDataset>(CocoDataset::load(dataset_options(cfg, section)));
}

std::string reader_identity(const Config& cfg, const std::string& section) {
  YAML::Node n = YAML::Clone(cfg.at(section));
  if (n.IsMap())
    for (const char* k : {"worker_num", "bufsize"}) n.remove(k);
  return YAML::Dump(n);
}

LoaderOptions loader_options(const Config& cfg, const std::string& section, int rank, int world_size) {
  LoaderOptions o;
  o.batch_size = cfg.get<int>(section + ".batch_size");
  o.shuffle = cfg.get<bool>(section + ".shuffle");
  o.drop_last = cfg.get<bool>(section + ".drop_last");
  o.workers = cfg.get<int>(section + ".worker_num");
  o.prefetch = cfg.get<int>(section + ".bufsize");
  o.seed = static_cast<uint64_t>(cfg.get<int64_t>("seed"));
  o.strict = cfg.get<bool>(section + ".dataset.strict");
  o.rank = rank;
  o.world_size = world_size;
  o.mixup_epoch = cfg.get<int64_t>(section + ".mixup_epoch");
  return o;
}

namespace {
// MixupImage's preconditions, checked before any image is read.
void check_mixup(const Config& cfg, const std::string& section, const Pipeline& p) {
  const int64_t mixup_epoch = cfg.get<int64_t>(section + ".mixup_epoch");
  const std::string where = "config '" + cfg.source() + "': " + section + ".sample_transforms";
  for (size_t i = 0; i < p.sample.size(); ++i) {
    if (std::string(p.sample[i]->name()) != "MixupImage") continue;
    if (section != "TrainReader") fail(where, ": MixupImage is a training augmentation");
    if (i != 0)
      fail(where,
           ": MixupImage must come first (it blends decoded images with a decoded partner); found at "
           "position ",
           i);
    if (mixup_epoch <= 0)
      fail("config '", cfg.source(), "': ", section, ".mixup_epoch is ", mixup_epoch,
           ", so MixupImage would never mix; set the epochs that mix images (the reference: 250 of 270)");
    const auto arch = cfg.get<std::string>("architecture");
    if (arch != "YOLOv3")
      fail(where,
           ": MixupImage needs a loss that weighs each box by its mixup score (the reference's gt_score); "
           "YOLOv3's does, ",
           arch, "'s does not");
  }
}
}  // namespace

Pipeline reader_pipeline(const Config& cfg, const std::string& section) {
  Pipeline p = make_pipeline(cfg.at(section));
  check_mixup(cfg, section, p);
  return p;
}

std::unique_ptr<DataLoader> make_loader(const Config& cfg, const std::string& section,
                                        std::shared_ptr<const CocoDataset> dataset, int rank, int world_size) {
  auto pipeline = std::make_shared<const Pipeline>(reader_pipeline(cfg, section));
  return std::make_unique<DataLoader>(std::move(dataset), std::move(pipeline),
                                      loader_options(cfg, section, rank, world_size));
}

int64_t eval_input_size(const Config& cfg, int64_t override_size, const std::string& what) {
  if (override_size > 0) return override_size;
  int64_t size = 0;
  for (const auto& t : cfg.at("EvalReader.sample_transforms"))
    if (t["type"].as<std::string>() == "ResizeImage") size = t["target_size"].as<int64_t>();
  if (size <= 0) fail(what, ": no --input and no ResizeImage in EvalReader.sample_transforms");
  return size;
}

}  // namespace compress
