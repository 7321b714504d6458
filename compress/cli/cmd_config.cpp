// `compress config show -c FILE [-o ...]`: print the fully merged config.
// `compress config keys [PREFIX]`: every key the schema allows, with its type,
// default, range and meaning.
#include <iostream>

#include "compress/cli/command.h"
#include "train/config/config.h"
#include "train/config/schema_doc.h"

namespace compress {
namespace {

class ConfigCommand : public Command {
 public:
  explicit ConfigCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("config", "inspect recipes");
    app_->require_subcommand(1);
    show_ = app_->add_subcommand("show", "print the fully merged config (bases, overrides and defaults)");
    flags_.add(show_, /*required=*/true);
    keys_ = app_->add_subcommand("keys", "list every config key: type, default, range and meaning");
    keys_->add_option("prefix", prefix_, "only this key or section, e.g. quant or TrainReader.batch_size");
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    if (keys_->parsed()) {
      std::cout << config::format_key_docs(config::document_keys(prefix_));
      return 0;
    }
    std::cout << flags_.load().dump();
    return 0;
  }

 private:
  CLI::App* app_;
  CLI::App* show_;
  CLI::App* keys_;
  std::string prefix_;
  ConfigFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_config_command(CLI::App& parent) { return std::make_unique<ConfigCommand>(parent); }

}  // namespace compress
