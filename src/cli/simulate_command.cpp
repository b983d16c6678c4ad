// natpunch simulate: many trials of one NAT pair on the in-memory network (src/sim), running the
// same Puncher as the real sockets, with the birthday formula's prediction beside the result.
#include <cmath>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/punch_options.h"
#include "sim/experiment.h"

namespace natpunch::cli {

namespace {
struct SimulateOptions {
  std::string nat_a = "port-restricted-cone";
  std::string nat_b = "symmetric-random";
  PunchOptions punch;
  int trials = 1000;
  double loss = 0;
  double delay_ms = 10, jitter_ms = 0;
  double background = 0;
  std::uint64_t seed = 1;
  bool json = false;
  bool discover = true;
  bool rate_given = false;
};

int run_simulate(const SimulateOptions& o) {
  auto a = sim::lab_nat(o.nat_a);
  auto b = sim::lab_nat(o.nat_b);
  if (!a || !b)
    return report_failure(o.json, "unknown NAT type '" + (a ? o.nat_b : o.nat_a) + "' (see `lab/lab types`)",
                          kExitUsage);
  if (o.trials < 1 || o.trials > 10'000'000) return report_failure(o.json, "--trials must be 1..10000000", kExitUsage);
  if (o.loss < 0 || o.loss >= 1) return report_failure(o.json, "--loss is a probability in [0, 1)", kExitUsage);
  if (o.delay_ms < 0 || o.delay_ms > 10'000 || o.jitter_ms < 0 || o.jitter_ms > 10'000)
    return report_failure(o.json, "--delay and --jitter are 0..10000 ms", kExitUsage);
  if (o.background < 0 || o.background > 1e6)
    return report_failure(o.json, "--background is 0..1000000 flows/s", kExitUsage);
  auto tuning = to_tuning(o.punch);
  if (!tuning) return report_failure(o.json, tuning.error(), kExitUsage);

  sim::ExperimentConfig cfg;
  cfg.trials = o.trials;
  cfg.trial.a.nat = *a;
  cfg.trial.b.nat = *b;
  cfg.trial.tuning = tuning->first;
  cfg.trial.forced = tuning->second;
  cfg.trial.seed = o.seed;
  cfg.trial.one_way = std::chrono::microseconds(static_cast<std::int64_t>(o.delay_ms * 1000));
  cfg.trial.jitter = std::chrono::microseconds(static_cast<std::int64_t>(o.jitter_ms * 1000));
  cfg.trial.a.discover = cfg.trial.b.discover = o.discover;
  // The seeds' model: the symmetric side's NAT allocates in the same range the cone side probes.
  for (auto* n : {&cfg.trial.a.nat, &cfg.trial.b.nat}) {
    if (n->allocation == sim::PortAllocation::Random && n->port_hi - n->port_lo > 4096) {
      n->port_lo = cfg.trial.tuning.port_lo;
      n->port_hi = cfg.trial.tuning.port_hi;
    }
    n->loss = o.loss;
    n->background_flows_per_s = o.background;
  }
  auto s = sim::run_experiment(cfg);

  const auto& t = cfg.trial.tuning;
  if (o.json) {
    nlohmann::json j = {{"nat_a", o.nat_a},
                        {"nat_b", o.nat_b},
                        {"trials", s.trials},
                        {"connected", s.connected},
                        {"success_rate", s.rate},
                        {"ci95", {s.ci_low, s.ci_high}},
                        {"formula", s.formula ? nlohmann::json(*s.formula) : nlohmann::json(nullptr)},
                        {"formula_range", s.formula ? nlohmann::json(s.formula_range) : nlohmann::json(nullptr)},
                        {"packets_mean", s.packets_mean},
                        {"packets_p99", s.packets_p99},
                        {"connect_ms_p50", s.connect_ms_p50},
                        {"connect_ms_p99", s.connect_ms_p99},
                        {"method", s.method},
                        {"ports", t.ports},
                        {"probes", t.probes},
                        {"port_range", std::to_string(t.port_lo) + "-" + std::to_string(t.port_hi)},
                        {"rate_pps", t.rate_pps},
                        {"loss", o.loss},
                        {"seed", o.seed},
                        {"discover", o.discover},
                        {"delay_ms", o.delay_ms},
                        {"jitter_ms", o.jitter_ms},
                        {"background_flows_per_s", o.background}};
    if (!s.sample_error.empty()) j["sample_error"] = s.sample_error;
    std::cout << json_text(j) << std::endl;
    return kExitOk;
  }
  std::cout << std::fixed << std::setprecision(2);
  std::cout << o.nat_a << " <-> " << o.nat_b << ": " << s.connected << "/" << s.trials
            << " connected = " << 100 * s.rate << " % (95 % CI " << 100 * s.ci_low << "–" << 100 * s.ci_high << " %)\n";
  if (s.formula)
    std::cout << "  formula 1 − C(R−N,M)/C(R,M) with R=" << s.formula_range << " N=" << t.ports << " M=" << t.probes
              << ": " << 100 * *s.formula << " %\n";
  std::cout << "  packets per trial: mean " << s.packets_mean << ", p99 " << s.packets_p99 << "\n"
            << "  virtual time to connect: p50 " << s.connect_ms_p50 << " ms, p99 " << s.connect_ms_p99 << " ms"
            << (s.method.empty() ? "" : ", mostly by " + s.method) << "\n";
  if (!s.sample_error.empty()) std::cout << "  a failed trial said: " << s.sample_error << "\n";
  return kExitOk;
}
}  // namespace

Runner add_simulate_command(CLI::App& app) {
  auto o = std::make_shared<SimulateOptions>();
  o->punch.rate = 0;  // virtual time: pacing only stretches the clock unless asked for
  auto* cmd = app.add_subcommand("simulate", "Run many traversal trials of one NAT pair on the in-memory network");
  cmd->add_option("--nat-a", o->nat_a, "Side a's NAT type (the lab's names, e.g. port-restricted-cone)")
      ->capture_default_str();
  cmd->add_option("--nat-b", o->nat_b, "Side b's NAT type")->capture_default_str();
  add_punch_options(*cmd, o->punch);
  cmd->add_option("--trials", o->trials, "Independent trials (initiator alternates)")->capture_default_str();
  cmd->add_option("--loss", o->loss, "Probability each packet is lost on each NAT's outside link")
      ->capture_default_str();
  cmd->add_option("--delay", o->delay_ms, "One-way delay across the internet, ms")->capture_default_str();
  cmd->add_option("--jitter", o->jitter_ms, "Extra one-way delay, uniform in [0, JITTER] ms per datagram (reorders)")
      ->capture_default_str();
  cmd->add_option("--background", o->background,
                  "New flows per second from other hosts behind each NAT (moves a sequential NAT's counter)")
      ->capture_default_str();
  cmd->add_flag("!--no-discover", o->discover,
                "Register the ideal NAT behaviour instead of running RFC 5780 discovery through each NAT first");
  cmd->add_option("--seed", o->seed, "Seed (trial i uses seed + i): same seed, same result")->capture_default_str();
  cmd->add_flag("--json", o->json,
                "One JSON object: trials, connected, success_rate, ci95, formula, packets_mean, packets_p99, "
                "connect_ms_p50, connect_ms_p99, method, ...");
  cmd->footer(
      "--port-range also sets the random-port range of a symmetric NAT (the seeds' agreed range).\n"
      "Example (JP7401564B2's setting, 95.8 %):\n"
      "  natpunch simulate --nat-a port-restricted-cone --nat-b symmetric-random --ports 400 --probes 500 \\\n"
      "      --port-range 2048-65535 --trials 20000");
  return [o] { return run_simulate(*o); };
}

}  // namespace natpunch::cli
