#include "compress/config_sections.h"

#include <mutex>

#include "compress/distill/distill_schema.h"
#include "compress/prune/prune_schema.h"
#include "compress/quant/quant_schema.h"
#include "train/engine/pretrain_schema.h"

namespace compress {

void compose_config_schema() {
  static std::once_flag once;
  std::call_once(once, [] {
    config::add_section("quant", quant::quant_schema());
    config::add_section("prune", prune::prune_schema());
    config::add_section("distill", distill::distill_schema());
    config::add_section("pretrain", pretrain_schema());
  });
}

}  // namespace compress
