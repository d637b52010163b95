// dfmpc: data-free mixed-precision quantization of CNNs.
#include <fmt/format.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>

#include "cli/cli_common.h"
#include "ir/file_util.h"

// oneDNN's OpenMP threads spin while they wait by default, which stalls everything when the
// cores are shared (measured in docs/performance.md: 3-300x slower under load). libgomp reads
// its wait policy when it is loaded, so the only way to change the default from inside is to
// set it and re-execute once. A user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT is respected.
static void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("DFMPC_NO_REEXEC")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::setenv("DFMPC_NO_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
  dfmpc::remove_outputs_on_signals("dfmpc");  // Ctrl-C leaves no half-written file behind
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
