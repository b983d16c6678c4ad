// The tuning options `agent` and `connect` share (--ports, --probes, --port-range, --rate, ...).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "punch/method.h"
#include "wire/result.h"

namespace natpunch::cli {

struct PunchOptions {
  int ports = PunchTuning{}.ports;
  int probes = PunchTuning{}.probes;
  std::string port_range = "1024-65535";
  double rate = PunchTuning{}.rate_pps;
  std::string method = "auto";
};

void add_punch_options(CLI::App& cmd, PunchOptions& o);
// Validates and converts; the error names the option.
Result<std::pair<PunchTuning, std::optional<Method>>, std::string> to_tuning(const PunchOptions& o);

}  // namespace natpunch::cli
