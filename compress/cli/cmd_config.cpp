// `compress config show -c FILE [-o ...]`: print the fully merged config.
#include <iostream>

#include "compress/cli/command.h"
#include "train/config/config.h"

namespace compress {
namespace {

class ConfigCommand : public Command {
 public:
  explicit ConfigCommand(CLI::App& parent) {
    app_ = parent.add_subcommand("config", "inspect recipes");
    app_->require_subcommand(1);
    show_ = app_->add_subcommand("show", "print the fully merged config (bases, overrides and defaults)");
    flags_.add(show_, /*required=*/true);
  }
  CLI::App* app() const override { return app_; }
  int run() override {
    std::cout << flags_.load().dump();
    return 0;
  }

 private:
  CLI::App* app_;
  CLI::App* show_;
  ConfigFlags flags_;
};

}  // namespace

std::unique_ptr<Command> make_config_command(CLI::App& parent) { return std::make_unique<ConfigCommand>(parent); }

}  // namespace compress
