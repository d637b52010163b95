// dfmpc: data-free mixed-precision quantization of CNNs.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "cli/cli_common.h"

int main(int argc, char** argv) {
  CLI::App app{"dfmpc: data-free, fine-tuning-free mixed-precision quantization of CNNs (DF-MPC)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dfmpc 0.1");
  dfmpc::cli::register_eval(app);
  dfmpc::cli::register_inspect(app);
  dfmpc::cli::register_quantize(app);
  dfmpc::cli::register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "dfmpc: error: {} (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dfmpc: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
