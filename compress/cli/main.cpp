// `compress`: the command-line front end. Exit codes: 0 ok, 1 runtime error
// (one-line cause), 2 usage error (usage printed).
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/exceptions.h>

#include <iostream>

#include "compress/cli/command.h"
#include "compress/config_sections.h"
#include "train/config/config.h"
#include "train/engine/distributed.h"
#include "train/util/allocator.h"
#include "train/util/atomic_file.h"
#include "train/util/error.h"
#include "train/util/log.h"

namespace {

// The deepest subcommand the user reached, whose usage an error prints.
CLI::App* deepest_parsed(CLI::App& app) {
  CLI::App* shown = &app;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (CLI::App* sub : shown->get_subcommands())
      if (sub->parsed()) {
        shown = sub;
        deeper = true;
        break;
      }
  }
  return shown;
}

}  // namespace

int main(int argc, char** argv) {
  compress::configure_allocator();
  compress::compose_config_schema();
  CLI::App app{"compress: quantization-aware training, channel pruning and distillation of mobile detectors"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  std::vector<std::unique_ptr<compress::Command>> commands;
  commands.push_back(compress::make_data_command(app));
  commands.push_back(compress::make_eval_command(app));
  commands.push_back(compress::make_config_command(app));
  commands.push_back(compress::make_bench_command(app));
  commands.push_back(compress::make_train_command(app));
  commands.push_back(compress::make_pretrain_command(app));
  commands.push_back(compress::make_infer_command(app));
  commands.push_back(compress::make_plot_command(app));
  commands.push_back(compress::make_quant_command(app));
  commands.push_back(compress::make_export_command(app));
  commands.push_back(compress::make_prune_command(app));
  commands.push_back(compress::make_sensitivity_command(app));
  commands.push_back(compress::make_distill_command(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << deepest_parsed(app)->help();
    return 2;
  }

  // An option given an empty value (`--out ''`, `--not_quant_pattern ''`) is a
  // mistake, never "use the default": refused here for every subcommand.
  for (CLI::App* sub = deepest_parsed(app); sub; sub = sub->get_parent()) {
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->count() == 0 || opt->get_type_size() == 0) continue;  // not given, or a flag
      for (const auto& v : opt->results())
        if (v.empty()) {
          std::cerr << "error: " << opt->get_name() << ": an empty value (give a "
                    << (opt->get_name() == "--not_quant_pattern" ? "layer name, e.g. res_conv1" : "file name or value")
                    << ")\n\n"
                    << deepest_parsed(app)->help();
          return 2;
        }
    }
  }

  try {
    // Before main returns or an error is reported: the process group goes
    // while CUDA is still loaded (see dist_shutdown).
    struct DistShutdown {
      ~DistShutdown() { compress::dist_shutdown(); }
    } dist_shutdown;
    compress::setup_logging(log_level);
    for (auto& c : commands) {
      if (!c->app()->parsed()) continue;
      if (const compress::DistEnv env = compress::dist_env_from_environment(); env.enabled() && !c->data_parallel())
        compress::fail(c->app()->get_name(), " runs in one process, but WORLD_SIZE is ", env.world_size,
                       ": run it without torchrun or tools/dist_train.sh");
      const int rc = c->run();
      compress::check_stdout();  // a full pipe or /dev/full is an error, not a silent exit 0
      return rc;
    }
    std::cerr << app.help();
    return 2;
  } catch (const CLI::ParseError& e) {  // a combination of flags only checked at run time
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const compress::UsageError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << deepest_parsed(app)->help();
    return 2;
  } catch (const compress::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const c10::Error& e) {
    spdlog::error("{}", e.what_without_backtrace());
    return 1;
  } catch (const YAML::Exception& e) {
    spdlog::error("YAML: {}", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    spdlog::error(
        "out of memory: a size in the recipe or the flags (batch_size, image size, image count) is "
        "larger than this machine can hold");
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
