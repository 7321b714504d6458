#include "compress/quant/quant_stage.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/engine/distributed.h"
#include "train/engine/trainer.h"
#include "train/util/atomic_file.h"

namespace compress::quant {
namespace fs = std::filesystem;

StageRules quant_stage_rules() {
  StageRules rules;
  rules.refuse_resume = [](const ModelTransforms& t) -> std::string {
    if (t.quant) return "";
    return "is not a QAT checkpoint; to start QAT from float weights use -o pretrain_weights=";
  };
  rules.qat_weights_hint = "QAT starts from float weights; to continue that run use `compress quant -r`";
  rules.random_init = "quantizing a randomly initialised model";
  return rules;
}

QuantReport wrap_for_qat(StageStart& start, QuantOptions qo, const std::string& run_dir) {
  if (start.transforms.quant) qo = *start.transforms.quant;  // a resumed run keeps its own settings
  const QuantReport r = apply_qat(*start.model, qo);
  start.transforms.quant = qo;
  spdlog::info("quantized {} convs, kept {} in float", r.quantized.size(), r.skipped.size());
  std::string q, s;
  for (const auto& p : r.quantized) q += (q.empty() ? "" : ", ") + p;
  for (const auto& p : r.skipped) s += (s.empty() ? "" : ", ") + p;
  spdlog::info("quantized: {}", q);
  spdlog::info("float (--not_quant_pattern): {}", s.empty() ? "none" : s);
  if (dist_env_from_environment().rank == 0) {  // rank 0 alone writes
    fs::create_directories(run_dir);
    write_file_atomic((fs::path(run_dir) / "quant_layers.json").string(),
                      nlohmann::json{{"quantized", r.quantized}, {"float", r.skipped}}.dump(1) + "\n");
  }
  return r;
}

std::function<void(Trainer&)> freeze_bn_at(int64_t freeze_bn_iter) {
  return [freeze_bn_iter](Trainer& trainer) {
    trainer.before_step = [&trainer, freeze_bn_iter, frozen = false](int64_t iter) mutable {
      if (freeze_bn_iter >= 0 && iter >= freeze_bn_iter && !frozen) {
        set_bn_frozen(trainer.model(), true);
        frozen = true;
        spdlog::info("BN statistics frozen at QAT step {}", iter);
      }
    };
  };
}

}  // namespace compress::quant
