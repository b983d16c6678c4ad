// Many independent trials of one NAT pair and setting, summarised: success rate with a 95 %
// confidence interval, the birthday formula's prediction where it applies, packets and virtual
// time to connect. Deterministic for a seed (trial i uses seed + i).
#pragma once

#include <optional>
#include <string>

#include "sim/trial.h"

namespace natpunch::sim {

struct ExperimentConfig {
  TrialConfig trial;  // the template; its seed is the experiment's
  int trials = 1000;
  bool alternate_initiator = true;  // the seeds' figs. 3 and 4
};

struct ExperimentSummary {
  int trials = 0;
  int connected = 0;
  double rate = 0;
  double ci_low = 0, ci_high = 0;  // Wilson score interval, 95 %
  std::optional<double> formula;   // 1 − C(R−N, M)/C(R, M) when a birthday step applies
  int formula_range = 0;           // its R
  double packets_mean = 0;
  std::uint64_t packets_p99 = 0;
  std::int64_t connect_ms_p50 = 0, connect_ms_p99 = 0;  // virtual, over connected trials
  std::string method;                                   // the most common method among connected trials
  std::string sample_error;
};

// P(at least one of M distinct probes hits one of N distinct mapped ports) over R ports.
double birthday_probability(double range, double n, double m);

ExperimentSummary run_experiment(const ExperimentConfig& config);

}  // namespace natpunch::sim
