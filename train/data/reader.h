// Builds a dataset and its loader from a reader section (TrainReader / EvalReader).
#pragma once
#include <memory>
#include <string>

#include "train/config/config.h"
#include "train/data/loader.h"

namespace compress {

// dataset_dir joined with image_dir / anno_path (when those are relative).
CocoDatasetOptions dataset_options(const Config& cfg, const std::string& section);
std::shared_ptr<const CocoDataset> load_dataset(const Config& cfg, const std::string& section);
// The section's transforms, checked against the rest of the config (MixupImage's
// place, mixup_epoch and architecture) before any image is read.
Pipeline reader_pipeline(const Config& cfg, const std::string& section);
// The section as YAML, without the keys that change how fast it reads but not
// what it yields (worker_num, bufsize): what a saved measurement depends on.
std::string reader_identity(const Config& cfg, const std::string& section);

LoaderOptions loader_options(const Config& cfg, const std::string& section, int rank = 0, int world_size = 1);
std::unique_ptr<DataLoader> make_loader(const Config& cfg, const std::string& section,
                                        std::shared_ptr<const CocoDataset> dataset, int rank = 0, int world_size = 1);

// The square input size a model is evaluated at: `override_size` when > 0, else
// EvalReader's ResizeImage target_size. `what` names the caller in the error.
int64_t eval_input_size(const Config& cfg, int64_t override_size, const std::string& what);

}  // namespace compress
