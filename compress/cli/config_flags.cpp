#include "compress/cli/command.h"
#include "train/config/config.h"

namespace compress {

void ConfigFlags::add(CLI::App* sub, bool required) {
  auto* c = sub->add_option("-c,--config", config, "recipe YAML (may inherit with _BASE_)");
  if (required) c->required();
  sub->add_option("-o,--opt", opts, "override a config key: key.path=value (repeatable)")->allow_extra_args(false);
  sub->add_option("--seed", seed, "random seed (overrides the config's seed)");
}

Config ConfigFlags::load() const {
  std::vector<std::string> all = opts;
  if (seed) all.push_back("seed=" + std::to_string(*seed));
  return load_config(config, all);
}

}  // namespace compress
