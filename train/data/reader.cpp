#include "train/data/reader.h"

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
  return o;
}

std::shared_ptr<const CocoDataset> load_dataset(const Config& cfg, const std::string& section) {
  return std::make_shared<const CocoDataset>(CocoDataset::load(dataset_options(cfg, section)));
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
  return o;
}

std::unique_ptr<DataLoader> make_loader(const Config& cfg, const std::string& section,
                                        std::shared_ptr<const CocoDataset> dataset, int rank, int world_size) {
  auto pipeline = std::make_shared<const Pipeline>(make_pipeline(cfg.at(section)));
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
