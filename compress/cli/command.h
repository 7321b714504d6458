// Each subcommand registers its flags on the CLI11 app and runs after parsing.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace compress {
class Config;

class Command {
 public:
  virtual ~Command() = default;
  virtual CLI::App* app() const = 0;
  virtual int run() = 0;  // exit code; errors are thrown
  // Whether the command shares its work across the processes of a launcher
  // (torchrun, tools/dist_train.sh). The others refuse WORLD_SIZE > 1: every
  // process would do the whole job and write the same files.
  virtual bool data_parallel() const { return false; }
};

// The flags every config-driven subcommand shares (the reference's conventions).
struct ConfigFlags {
  std::string config;
  std::vector<std::string> opts;  // -o key.path=value
  std::optional<int64_t> seed;
  void add(CLI::App* sub, bool required);
  Config load() const;
};

std::unique_ptr<Command> make_data_command(CLI::App& parent);
std::unique_ptr<Command> make_eval_command(CLI::App& parent);
std::unique_ptr<Command> make_config_command(CLI::App& parent);
std::unique_ptr<Command> make_bench_command(CLI::App& parent);
std::unique_ptr<Command> make_train_command(CLI::App& parent);
std::unique_ptr<Command> make_pretrain_command(CLI::App& parent);
std::unique_ptr<Command> make_infer_command(CLI::App& parent);
std::unique_ptr<Command> make_plot_command(CLI::App& parent);
std::unique_ptr<Command> make_quant_command(CLI::App& parent);
std::unique_ptr<Command> make_export_command(CLI::App& parent);
std::unique_ptr<Command> make_prune_command(CLI::App& parent);
std::unique_ptr<Command> make_sensitivity_command(CLI::App& parent);
std::unique_ptr<Command> make_distill_command(CLI::App& parent);

}  // namespace compress
