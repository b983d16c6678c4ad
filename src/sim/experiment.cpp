#include "sim/experiment.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace natpunch::sim {

double birthday_probability(double range, double n, double m) {
  if (n <= 0 || m <= 0) return 0;
  if (n + m > range) return 1;
  // C(R−N, M)/C(R, M) = Π_{i=0}^{M−1} (R−N−i)/(R−i), in logs.
  double log_miss =
      std::lgamma(range - n + 1) - std::lgamma(range - n - m + 1) - std::lgamma(range + 1) + std::lgamma(range - m + 1);
  return 1 - std::exp(log_miss);
}

namespace {

// Wilson score interval for k successes of n at 95 %.
std::pair<double, double> wilson(int k, int n) {
  if (n == 0) return {0, 1};
  const double z = 1.959963984540054;
  double p = static_cast<double>(k) / n;
  double denom = 1 + z * z / n;
  double centre = (p + z * z / (2.0 * n)) / denom;
  double half = z * std::sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / denom;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

template <class T>
T percentile(std::vector<T> v, double q) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

bool birthday_applies(const TrialConfig& t) {
  auto a = reported_behavior(t.a.nat), b = reported_behavior(t.b.nat);
  bool one_cone = a.is_cone() != b.is_cone();
  bool permissive = (a.is_cone() && a.behind_nat && a.filtering != Dependence::AddressAndPortDependent) ||
                    (b.is_cone() && b.behind_nat && b.filtering != Dependence::AddressAndPortDependent);
  bool random = a.allocation == Allocation::Random || b.allocation == Allocation::Random;
  if (t.forced) return *t.forced == Method::BirthdayListenFirst || *t.forced == Method::BirthdaySprayFirst;
  return one_cone && !permissive && random && a.behind_nat && b.behind_nat;
}

}  // namespace

ExperimentSummary run_experiment(const ExperimentConfig& config) {
  ExperimentSummary s;
  std::vector<std::uint64_t> packets;
  std::vector<std::int64_t> times;
  std::map<std::string, int> methods;
  for (int i = 0; i < config.trials; ++i) {
    TrialConfig t = config.trial;
    t.seed = config.trial.seed + static_cast<std::uint64_t>(i);
    if (config.alternate_initiator) t.a_initiates = (i % 2) == 0;
    auto r = run_trial(t);
    ++s.trials;
    packets.push_back(r.a.stats.sent + r.b.stats.sent);
    if (r.ok()) {
      ++s.connected;
      times.push_back(r.elapsed.count());
      ++methods[std::string(to_string(r.a.outcome.method))];
    } else if (s.sample_error.empty()) {
      s.sample_error = !r.intro.ok ? r.intro.error : (!r.a.outcome.ok ? r.a.outcome.error : r.b.outcome.error);
    }
  }
  s.rate = s.trials ? static_cast<double>(s.connected) / s.trials : 0;
  std::tie(s.ci_low, s.ci_high) = wilson(s.connected, s.trials);
  double sum = 0;
  for (auto p : packets) sum += static_cast<double>(p);
  s.packets_mean = packets.empty() ? 0 : sum / static_cast<double>(packets.size());
  s.packets_p99 = percentile(packets, 0.99);
  s.connect_ms_p50 = percentile(times, 0.50);
  s.connect_ms_p99 = percentile(times, 0.99);
  int best = 0;
  for (const auto& [m, n] : methods)
    if (n > best) best = n, s.method = m;
  if (birthday_applies(config.trial)) {
    // R: the ports both the sprayer probes and the symmetric side's NAT allocates from (its pool,
    // when that is narrower than the probed range and was reported).
    const auto& tu = config.trial.tuning;
    const auto& sym = reported_behavior(config.trial.a.nat).is_cone() ? config.trial.b.nat : config.trial.a.nat;
    int lo = std::max<int>(tu.port_lo, sym.port_lo), hi = std::min<int>(tu.port_hi, sym.port_hi);
    if (lo > hi) lo = tu.port_lo, hi = tu.port_hi;
    s.formula_range = hi - lo + 1;
    s.formula = birthday_probability(s.formula_range, tu.ports, tu.probes);
  }
  return s;
}

}  // namespace natpunch::sim
