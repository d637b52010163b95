// Pieces shared by the dfmpc subcommands: data flags, progress bar, error type.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/graph.h"

namespace dfmpc::cli {

struct DataFlags {
  std::string data, labels, format;
  std::vector<float> mean, std;
  int64_t limit = 0, resize = 0, crop = 0;
  bool grayscale = false;
};

// Adds --data --format --labels --mean --std --limit --resize --crop --grayscale.
void add_data_flags(CLI::App& cmd, DataFlags& f, bool required);
Dataset load_data(const DataFlags& f);
Normalization normalization(const DataFlags& f);

// Draws a progress bar with ETA on stderr when stderr is a terminal; no-op otherwise.
class Progress {
 public:
  explicit Progress(std::string label);
  void operator()(int64_t done, int64_t total);
  ~Progress();

 private:
  std::string label_;
  bool tty_;
  double start_;
  bool drawn_ = false;
};

// Prints the DF-MPC pairing plan (pairs and edge layers with reasons).
void print_pairing(const Graph& g);

// Registration of each subcommand (one file each).
void register_eval(CLI::App& app);
void register_inspect(CLI::App& app);
void register_quantize(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace dfmpc::cli
