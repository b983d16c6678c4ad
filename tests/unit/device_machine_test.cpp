// device/DeviceMachine on the simulator's virtual clock (sim/device_host.h), against the real
// rendezvous request handler, through simulated NATs: discovery, registration, refresh through
// several lifetimes, a server restart and an outage, a NAT that forgets its mappings, loss, a
// refusing server, and the router's port mapping as a driver reports it.
#include "device/device_machine.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "sim/device_host.h"
#include "sim/trial.h"
#include "test_seed.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using sim::kServerAddress;

template <typename T>
std::vector<std::pair<TimePoint, T>> events_of(const sim::DeviceHost& h) {
  std::vector<std::pair<TimePoint, T>> out;
  for (const auto& [at, e] : h.events())
    if (auto* x = std::get_if<T>(&e)) out.emplace_back(at, *x);
  return out;
}

DeviceKey key_for(std::uint8_t n) {
  std::array<std::byte, kSeedSize> seed{};
  seed.fill(std::byte{n});
  return DeviceKey::from_seed(seed);
}

// One device behind one NAT, the server, and the network between them.
class DeviceWorld {
 public:
  DeviceWorld(const std::string& nat_name, std::chrono::seconds ttl, std::uint64_t seed, double loss = 0,
              std::function<void(ServerConfig&)> tweak = {})
      : net_(sim::NetworkConfig{seed}), server_(net_, config(ttl, tweak), seed ^ 0x5e7), runner_(net_, &server_) {
    auto nat = *sim::lab_nat(nat_name);
    nat.loss = loss;
    site_ = net_.add_site(nat);
    main_ = *net_.bind(net_.add_host(site_), 40'000);
    DeviceConfig c;
    c.id = *make_device_id(IdKind::UserName, "home");
    c.key = &key_;
    c.server = kServerAddress;
    c.main_local = net_.local_address(main_);
    c.local_addresses = {c.main_local};
    c.random = seeded_random(seed ^ 0xde71ce);
    device_config_ = c;
  }
  static ServerConfig config(std::chrono::seconds ttl, const std::function<void(ServerConfig&)>& tweak) {
    ServerConfig c;
    c.ttl = ttl;
    if (tweak) tweak(c);
    return c;
  }

  sim::DeviceHost& start(std::function<void(DeviceConfig&)> tweak = {}, sim::DeviceHost::PortMapper mapper = {}) {
    if (tweak) tweak(device_config_);
    machine_ = std::make_unique<DeviceMachine>(device_config_);
    host_ = std::make_unique<sim::DeviceHost>(runner_, main_, *machine_);
    if (mapper) host_->set_port_mapper(std::move(mapper));
    host_->start();
    return *host_;
  }
  bool run_until(TimePoint limit, const std::function<bool()>& done = {}) {
    return sim::run_devices(runner_, {host_.get()}, limit, done);
  }
  bool registered() {
    return std::any_of(host_->events().begin(), host_->events().end(),
                       [](const auto& e) { return std::holds_alternative<RegisteredEvent>(e.second); });
  }
  // The server's record of the device, when it is live now.
  const Registration* record() {
    auto* r = server_.handler().registry().peek("home");
    return r && r->expires > net_.now() ? r : nullptr;
  }
  TimePoint now() const { return net_.now(); }

  DeviceKey key_ = key_for(7);
  sim::Network net_;
  sim::SimServer server_;
  sim::Runner runner_;
  sim::SiteId site_ = 0;
  sim::SocketId main_ = 0;
  DeviceConfig device_config_;
  std::unique_ptr<DeviceMachine> machine_;
  std::unique_ptr<sim::DeviceHost> host_;
};

TEST(DeviceMachine, DiscoversItsNatRegistersItAndStaysRegisteredThroughThreeLifetimes) {
  DeviceWorld w("port-restricted-cone", 6s, test::test_seed("device-refresh"));
  auto& h = w.start();
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.registered(); }));
  auto reg = events_of<RegisteredEvent>(h);
  ASSERT_EQ(reg.size(), 1u);
  ASSERT_TRUE(reg[0].second.nat.has_value());
  EXPECT_EQ(*reg[0].second.nat, sim::reported_behavior(*sim::lab_nat("port-restricted-cone")));
  EXPECT_EQ(reg[0].second.ttl_s, 6u);
  EXPECT_EQ(reg[0].second.mapped, *w.net_.public_address(w.main_, kServerAddress));
  ASSERT_NE(w.record(), nullptr);
  EXPECT_EQ(w.record()->nat, reg[0].second.nat);
  EXPECT_EQ(w.machine_->registration().interval(), 2s);

  // Three lifetimes (nothing else to do: the refresh alone keeps the record): sampled every 250 ms.
  auto registrations = w.machine_->counters().registrations;
  auto end = w.now() + 18s;
  int lapses = 0;
  while (w.now() < end) {
    w.run_until(w.now() + 250ms);
    lapses += w.record() == nullptr;
  }
  EXPECT_EQ(lapses, 0);
  // One refresh per interval (2 s), each one transaction: 9 over 18 s.
  EXPECT_GE(w.machine_->counters().registrations - registrations, 8u);
  EXPECT_LE(w.machine_->counters().registrations - registrations, 10u);
  EXPECT_EQ(w.machine_->counters().discoveries, 1u);
  EXPECT_TRUE(events_of<RegistrationFailedEvent>(h).empty());
  EXPECT_TRUE(events_of<MappingChangedEvent>(h).empty());
}

TEST(DeviceMachine, ARestartedServerHasTheDeviceBackWithinTwoIntervals) {
  DeviceWorld w("full-cone", 6s, test::test_seed("device-restart"));
  auto& h = w.start();
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.registered(); }));
  w.run_until(w.now() + 1s);
  w.server_.restart(test::test_seed("device-restart-server"));
  auto restarted = w.now();
  ASSERT_EQ(w.record(), nullptr);  // the restarted server knows nobody
  ASSERT_TRUE(w.run_until(restarted + 2 * w.machine_->registration().interval() + 1s,
                          [&] { return w.record() != nullptr; }));
  // Its old nonce meant nothing to the new server: the refresh went again quoting the fresh one
  // (a signed registration), and the key was bound again.
  ASSERT_NE(w.record(), nullptr);
  EXPECT_TRUE(w.record()->nonce.has_value());
  EXPECT_EQ(w.server_.handler().key_bindings().size(), 1u);
  EXPECT_TRUE(events_of<RegistrationFailedEvent>(h).empty());
}

TEST(DeviceMachine, AnOutageEndsWithReRegisteredAndTheTimeItLasted) {
  DeviceWorld w("restricted-cone", 6s, test::test_seed("device-outage"));
  auto& h = w.start();
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.registered(); }));
  w.server_.set_down(true);
  auto down_at = w.now();
  w.run_until(w.now() + 10s);
  auto failed = events_of<RegistrationFailedEvent>(h);
  ASSERT_GE(failed.size(), 2u);  // one per interval: each refresh gives up within one
  EXPECT_LE(failed.size(), 6u);
  EXPECT_TRUE(failed[0].second.registered_before);
  w.server_.set_down(false);
  auto back_at = w.now();
  auto interval = w.machine_->registration().interval();
  ASSERT_TRUE(w.run_until(back_at + 2 * interval + 1s, [&] { return !events_of<ReRegisteredEvent>(h).empty(); }));
  auto back = events_of<ReRegisteredEvent>(h);
  ASSERT_EQ(back.size(), 1u);
  // The outage counts from the first refresh that failed (started after the server went down).
  EXPECT_GE(back[0].second.down, std::chrono::duration_cast<std::chrono::milliseconds>(back_at - down_at) - interval);
  EXPECT_LE(back[0].second.down, std::chrono::duration_cast<std::chrono::milliseconds>(back[0].first - down_at));
  EXPECT_NE(w.record(), nullptr);
}

TEST(DeviceMachine, ANatThatForgetsItsMappingsIsLearntAgain) {
  // Random ports: after the flush, the main socket's flow gets another public port.
  DeviceWorld w("port-restricted-cone-random", 6s, test::test_seed("device-flush"));
  auto& h = w.start();
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.registered(); }));
  auto first = events_of<RegisteredEvent>(h)[0].second.mapped;
  w.net_.flush_nat(w.site_);
  ASSERT_TRUE(w.run_until(w.now() + 3 * w.machine_->registration().interval() + 10s, [&] {
    return !events_of<MappingChangedEvent>(h).empty() && !w.machine_->discovering() && w.record() &&
           w.record()->mapped != first;
  }));
  auto changed = events_of<MappingChangedEvent>(h);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].second.old_mapped, first);
  EXPECT_NE(changed[0].second.mapped, first);
  EXPECT_EQ(w.machine_->counters().discoveries, 2u);
  // Registered with the new mapping and what the second discovery found.
  w.run_until(w.now() + 1s);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_EQ(w.record()->mapped, changed[0].second.mapped);
  ASSERT_TRUE(w.machine_->nat().has_value());
  EXPECT_EQ(w.record()->nat, w.machine_->nat());
  EXPECT_EQ(w.machine_->nat()->mapping, Dependence::EndpointIndependent);
}

TEST(DeviceMachine, RefreshUnderTwentyPercentLossKeepsTheRegistration) {
  DeviceWorld w("port-restricted-cone", 30s, test::test_seed("device-loss"), 0.2);
  w.start();
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return w.registered(); }));
  // Ten lifetimes, sampled every second. A refresh goes up to six times within its interval (10 s);
  // two refreshes in a row must fail for the record to lapse.
  auto end = w.now() + 300s;
  int samples = 0, lapses = 0;
  while (w.now() < end) {
    w.run_until(w.now() + 1s);
    ++samples;
    lapses += w.record() == nullptr;
  }
  EXPECT_EQ(lapses, 0) << "of " << samples << " samples";
}

TEST(DeviceMachine, ARefusedRegistrationIsTriedAgainAnIntervalLaterNotAtOnce) {
  // The server takes only the keys it lists: this device's is not among them.
  DeviceWorld w("full-cone", 6s, test::test_seed("device-refused"), 0, [](ServerConfig& c) {
    c.authorized_keys = std::map<std::string, PublicKey>{{"home", key_for(9).public_key()}};
  });
  auto& h = w.start([](DeviceConfig& c) { c.discover = false; });
  w.run_until(w.now() + 10s);
  auto failed = events_of<RegistrationFailedEvent>(h);
  ASSERT_GE(failed.size(), 5u);
  EXPECT_FALSE(failed[0].second.registered_before);
  EXPECT_NE(failed[0].second.error.find("refused"), std::string::npos) << failed[0].second.error;
  // About one a second (the minimum interval), never a loop at the server's pace.
  EXPECT_LE(failed.size(), 12u);
  EXPECT_LE(w.machine_->counters().registrations, 12u);
  EXPECT_FALSE(w.registered());
}

TEST(DeviceMachine, WithoutDiscoveryItRegistersNoBehaviourAndOpensNoSockets) {
  DeviceWorld w("symmetric-random", 6s, test::test_seed("device-nodiscover"));
  auto& h = w.start([](DeviceConfig& c) { c.discover = false; });
  ASSERT_TRUE(w.run_until(w.now() + 10s, [&] { return w.registered(); }));
  EXPECT_FALSE(events_of<RegisteredEvent>(h)[0].second.nat.has_value());
  EXPECT_EQ(w.machine_->counters().discoveries, 0u);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_FALSE(w.record()->nat.has_value());
}

// The router's port mapping, as a driver reports it: registered on our public IP, renewed at half
// its lifetime, withdrawn when a renewal fails, released on stop.
TEST(DeviceMachine, APortMappingOnOurPublicIpIsRegisteredRenewedAndWithdrawnWhenItFails) {
  DeviceWorld w("port-restricted-cone", 6s, test::test_seed("device-portmap"));
  auto external = w.net_.site_public_ip(w.site_);
  external.port = 50'000;
  int maps = 0, renewals = 0, releases = 0;
  bool renewal_fails = false;
  w.start(
      [](DeviceConfig& c) {
        c.discover = false;
        c.port_mapping = true;
        c.port_mapping_lifetime = 20s;
      },
      [&](std::optional<bool> renewal) -> std::optional<Result<MappedPort, std::string>> {
        if (!renewal) {
          ++releases;
          return std::nullopt;
        }
        ++(*renewal ? renewals : maps);
        if (*renewal && renewal_fails) return fail(std::string("the router forgot us"));
        return MappedPort{"pcp", external, 20s};
      });
  ASSERT_TRUE(w.run_until(w.now() + 10s, [&] { return w.registered(); }));
  auto reg = events_of<RegisteredEvent>(*w.host_);
  ASSERT_TRUE(reg[0].second.port_mapping.has_value());
  EXPECT_EQ(reg[0].second.port_mapping->external, external);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_EQ(w.record()->port_mapped, external);
  // Renewed at half its lifetime (10 s), and again 10 s later.
  w.run_until(w.now() + 21s);
  EXPECT_EQ(renewals, 2);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_EQ(w.record()->port_mapped, external);
  // A failed renewal: the next registration (at once) no longer announces it.
  renewal_fails = true;
  w.run_until(w.now() + 11s);
  EXPECT_EQ(renewals, 3);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_FALSE(w.record()->port_mapped.has_value());
  EXPECT_NE(w.machine_->port_mapping().note().find("renewal failed"), std::string::npos);
  EXPECT_EQ(maps, 1);
  w.machine_->stop(w.now());
  w.host_->flush();
  EXPECT_EQ(releases, 0);  // nothing left to release
  EXPECT_FALSE(w.machine_->next_deadline().has_value());
}

TEST(DeviceMachine, APortMappingBehindAFurtherNatIsNotRegistered) {
  DeviceWorld w("full-cone", 6s, test::test_seed("device-portmap-cgnat"));
  auto elsewhere = SocketAddress::v4({100, 64, 0, 9}, 50'000);  // the router's WAN side is not our public IP
  int releases = 0;
  w.start(
      [](DeviceConfig& c) {
        c.discover = false;
        c.port_mapping = true;
      },
      [&](std::optional<bool> renewal) -> std::optional<Result<MappedPort, std::string>> {
        if (!renewal) {
          ++releases;
          return std::nullopt;
        }
        return MappedPort{"nat-pmp", elsewhere, 3600s};
      });
  ASSERT_TRUE(w.run_until(w.now() + 10s, [&] { return w.registered(); }));
  auto reg = events_of<RegisteredEvent>(*w.host_);
  EXPECT_FALSE(reg[0].second.port_mapping.has_value());
  EXPECT_NE(reg[0].second.port_mapping_note.find("further NAT"), std::string::npos) << reg[0].second.port_mapping_note;
  ASSERT_NE(w.record(), nullptr);
  EXPECT_FALSE(w.record()->port_mapped.has_value());
  // Still the device's mapping on the router: released on stop.
  w.machine_->stop(w.now());
  w.host_->flush();
  EXPECT_EQ(releases, 1);
}

TEST(DeviceMachine, TheFirstRegistrationWaitsForTheRouterOnlyAWhile) {
  DeviceWorld w("full-cone", 6s, test::test_seed("device-portmap-slow"));
  auto started = w.now();
  w.start(
      [](DeviceConfig& c) {
        c.discover = false;
        c.port_mapping = true;
        c.port_mapping_wait = 2s;
      },
      [](std::optional<bool>) -> std::optional<Result<MappedPort, std::string>> { return std::nullopt; });
  // The router never answers (the MapPort stays unanswered): registered after the wait.
  ASSERT_TRUE(w.run_until(w.now() + 10s, [&] { return w.registered(); }));
  auto reg = events_of<RegisteredEvent>(*w.host_);
  EXPECT_GE(reg[0].first - started, 2s);
  EXPECT_LT(reg[0].first - started, 3s);
  EXPECT_FALSE(reg[0].second.port_mapping.has_value());
  // Its late answer is registered at once.
  auto external = w.net_.site_public_ip(w.site_);
  external.port = 50'001;
  w.machine_->on_port_mapped(MappedPort{"upnp-igd", external, 3600s}, w.now());
  w.run_until(w.now() + 1s);
  ASSERT_NE(w.record(), nullptr);
  EXPECT_EQ(w.record()->port_mapped, external);
}

}  // namespace
}  // namespace natpunch
