// natpunch-bench-many-peers: one agent (DeviceMachine, the code `natpunch agent` runs) and K peers
// of mixed NAT types connecting at once on the simulator's virtual clock, with real QUIC sessions:
// each peer's time from its connect to its echo, how many connected, how many of the agent's
// sessions ended by the peer's close, and whether the agent's registration stayed live throughout.
// One JSON object per run. bench/run-bench table 7 compares K peers with one (the baseline).
//   natpunch-bench-many-peers --peers K [--loss P] [--seed S]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "device/device_machine.h"
#include "device/echo_app.h"
#include "sim/device_host.h"
#include "sim/trial.h"

namespace {
using namespace natpunch;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

const char* const kTypes[] = {"full-cone", "restricted-cone", "port-restricted-cone", "port-restricted-cone-random",
                              "symmetric-random-narrow", "symmetric-sequential", "symmetric-preserve-first", "open"};

struct Side {
  std::unique_ptr<DeviceKey> key;
  sim::SocketId main = 0;
  DeviceConfig config;
  std::unique_ptr<DeviceMachine> machine;
  std::unique_ptr<sim::DeviceHost> host;
  TimePoint asked{};
  std::optional<TimePoint> echoed;
  bool failed = false;
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One agent, K peers at once, on the simulator (natpunch's device machine and real QUIC)"};
  int peers = 8;
  double loss = 0;
  std::uint64_t seed = 1;
  app.add_option("--peers", peers, "Peers connecting at once")->check(CLI::Range(1, 64));
  app.add_option("--loss", loss, "Loss on each router, each way")->check(CLI::Range(0.0, 0.9));
  app.add_option("--seed", seed, "Seed");
  CLI11_PARSE(app, argc, argv);

  sim::Network net(sim::NetworkConfig{seed});
  ServerConfig sc;
  sc.ttl = 15s;
  sim::SimServer server(net, sc, seed ^ 0x5e7);
  sim::Runner runner(net, &server);
  std::vector<std::unique_ptr<Side>> sides;
  auto add = [&](const std::string& name, const char* nat, bool agent) -> Side& {
    auto s = std::make_unique<Side>();
    std::array<std::byte, kSeedSize> ks{};
    ks.fill(std::byte(static_cast<std::uint8_t>(sides.size() + 1)));
    s->key = std::make_unique<DeviceKey>(DeviceKey::from_seed(ks));
    auto n = *sim::lab_nat(nat);
    n.loss = loss;
    s->main = *net.bind(net.add_host(net.add_site(n)), 40'000);
    auto& c = s->config;
    c.id = *make_device_id(IdKind::UserName, name);
    c.key = s->key.get();
    c.server = sim::kServerAddress;
    c.main_local = net.local_address(s->main);
    c.local_addresses = {c.main_local};
    c.random = seeded_random(seed ^ (0x3000 + sides.size()));
    c.admission.allow_any = agent;
    c.max_attempts = 64;
    c.max_sockets = 64 * 300;
    s->machine = std::make_unique<DeviceMachine>(c);
    s->host = std::make_unique<sim::DeviceHost>(runner, s->main, *s->machine);
    sides.push_back(std::move(s));
    return *sides.back();
  };
  auto& home = add("home", "port-restricted-cone", true);
  std::uint64_t closed_by_peer = 0, closed = 0;
  EchoApp echo(*home.machine);  // the agent's application
  home.host->set_on_event([&](const DeviceEvent& e) {
    echo.on_event(e, net.now());
    if (auto* c = std::get_if<SessionClosedEvent>(&e)) {
      ++closed;
      closed_by_peer += c->by_peer;
    }
  });
  for (int i = 0; i < peers; ++i) {
    auto& p = add("phone" + std::to_string(i), kTypes[i % 8], false);
    Side* me = &p;
    p.host->set_on_event([me, &net](const DeviceEvent& e) {
      if (auto* est = std::get_if<SessionEstablishedEvent>(&e)) {
        std::string hello = "hello";
        (void)me->machine->send_message(est->connection, as_bytes(hello), net.now());
      } else if (auto* m = std::get_if<MessageEvent>(&e)) {
        me->echoed = net.now();
        me->machine->close(m->connection, net.now());
      } else if (std::holds_alternative<AttemptFailedEvent>(e)) {
        me->failed = true;
      }
    });
  }
  std::vector<sim::DeviceHost*> hosts;
  for (auto& s : sides) {
    hosts.push_back(s->host.get());
    s->host->start();
  }
  auto registered = [&](const Side& s) {
    return std::any_of(s.host->events().begin(), s.host->events().end(),
                       [](const auto& e) { return std::holds_alternative<RegisteredEvent>(e.second); });
  };
  sim::run_devices(runner, hosts, net.now() + 120s, [&] {
    return std::all_of(sides.begin(), sides.end(), [&](const auto& s) { return registered(*s); });
  });
  auto wall = std::chrono::steady_clock::now();
  auto asked = net.now();
  for (std::size_t i = 1; i < sides.size(); ++i) sides[i]->machine->connect(home.config.id, asked, asked + 60s);
  int lapses = 0, samples = 0;
  while (net.now() < asked + 90s) {
    bool done = std::all_of(sides.begin() + 1, sides.end(), [](const auto& s) { return s->echoed || s->failed; });
    if (done && closed >= static_cast<std::uint64_t>(std::count_if(sides.begin() + 1, sides.end(),
                                                                   [](const auto& s) { return s->echoed.has_value(); })))
      break;
    sim::run_devices(runner, hosts, net.now() + 250ms, {});
    auto* r = server.handler().registry().peek("home");
    ++samples;
    lapses += !(r && r->expires > net.now());
  }
  std::vector<double> ms;
  for (std::size_t i = 1; i < sides.size(); ++i)
    if (sides[i]->echoed) ms.push_back(std::chrono::duration<double, std::milli>(*sides[i]->echoed - asked).count());
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  nlohmann::json j{{"peers", peers},
                   {"loss", loss},
                   {"echoed", ms.size()},
                   {"echo_ms_p50", pct(0.5)},
                   {"echo_ms_max", ms.empty() ? 0.0 : ms.back()},
                   {"agent_sessions_closed", closed},
                   {"closed_by_peer", closed_by_peer},
                   {"registration_lapses", lapses},
                   {"registration_samples", samples},
                   {"wall_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall).count()}};
  std::cout << j.dump() << std::endl;
  return 0;
}
