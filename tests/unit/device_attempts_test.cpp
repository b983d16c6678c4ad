// Many attempts at once on one device (device/DeviceMachine, device/Attempt), on the simulator's
// virtual clock with the real request handler and simulated NATs: eight peers of mixed NAT types
// at once and a ninth told "busy" (it fails fast), a silent peer cut at its deadline without
// delaying another, the birthday listener exempt from that rule, the socket budget, a pinned
// key that refuses an introduction before anything is sent; and the initiator's connect policy
// (DeviceConnect: retries from the request, the deadline, the relay decision).
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "device/device_machine.h"
#include "sim/device_host.h"
#include "sim/trial.h"
#include "test_seed.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

DeviceKey key_for(std::uint8_t n) {
  std::array<std::byte, kSeedSize> seed{};
  seed.fill(std::byte{n});
  return DeviceKey::from_seed(seed);
}

class Devices {
 public:
  struct Dev {
    std::string name;
    DeviceKey key;
    sim::SiteId site = 0;
    sim::SocketId main = 0;
    DeviceConfig config;
    std::unique_ptr<DeviceMachine> machine;
    std::unique_ptr<sim::DeviceHost> host;
    bool paused = false;  // not run: what arrives for it is lost, it sends nothing

    template <typename T>
    std::vector<std::pair<TimePoint, T>> events() const {
      std::vector<std::pair<TimePoint, T>> out;
      for (const auto& [at, e] : host->events())
        if (auto* x = std::get_if<T>(&e)) out.emplace_back(at, *x);
      return out;
    }
    bool registered() const { return !events<RegisteredEvent>().empty(); }
  };

  explicit Devices(std::uint64_t seed, std::chrono::seconds ttl = 60s, std::optional<TurnOffer> turn = std::nullopt)
      : seed_(seed), net_(sim::NetworkConfig{seed}), server_(net_, server_config(ttl, turn), seed ^ 0x5e7),
        runner_(net_, &server_) {}
  static ServerConfig server_config(std::chrono::seconds ttl, std::optional<TurnOffer> turn) {
    ServerConfig c;
    c.ttl = ttl;
    c.turn = std::move(turn);
    return c;
  }

  Dev& add(const std::string& name, const std::string& nat, std::function<void(DeviceConfig&)> tweak = {}) {
    auto d = std::make_unique<Dev>(Dev{name, key_for(static_cast<std::uint8_t>(devs_.size() + 1)), 0, 0, {}, {}, {}});
    d->site = net_.add_site(*sim::lab_nat(nat));
    d->main = *net_.bind(net_.add_host(d->site), 40'000);
    auto& c = d->config;
    c.id = *make_device_id(IdKind::UserName, name);
    c.key = &d->key;
    c.server = sim::kServerAddress;
    c.main_local = net_.local_address(d->main);
    c.local_addresses = {c.main_local};
    c.random = seeded_random(seed_ ^ (0x1000 + devs_.size()));
    if (tweak) tweak(c);
    d->machine = std::make_unique<DeviceMachine>(c);
    d->host = std::make_unique<sim::DeviceHost>(runner_, d->main, *d->machine);
    d->host->start();
    devs_.push_back(std::move(d));
    return *devs_.back();
  }

  bool run_until(TimePoint limit, const std::function<bool()>& done = {}) {
    std::vector<sim::DeviceHost*> hosts;
    for (auto& d : devs_)
      if (!d->paused) hosts.push_back(d->host.get());
    return sim::run_devices(runner_, hosts, limit, done);
  }
  bool all_registered() const {
    return std::all_of(devs_.begin(), devs_.end(), [](const auto& d) { return d->registered(); });
  }
  TimePoint now() const { return net_.now(); }
  bool live_record(const std::string& id) const {
    auto* r = server_.handler().registry().peek(id);
    return r && r->expires > net_.now();
  }

  std::uint64_t seed_;
  sim::Network net_;
  sim::SimServer server_;
  sim::Runner runner_;
  std::vector<std::unique_ptr<Dev>> devs_;
};

void open_device(DeviceConfig& c) { c.admission.allow_any = true; }

TEST(DeviceAttempts, EightPeersOfMixedNatTypesConnectAtOnceAndANinthIsToldBusy) {
  Devices w(test::test_seed("attempts-eight"), 15s);
  auto& home = w.add("home", "port-restricted-cone", open_device);
  const std::vector<std::string> types{"open",
                                       "full-cone",
                                       "restricted-cone",
                                       "port-restricted-cone",
                                       "port-restricted-cone-random",
                                       "symmetric-random-narrow",
                                       "symmetric-sequential",
                                       "symmetric-preserve-first",
                                       "full-cone"};
  std::vector<Devices::Dev*> phones;
  for (std::size_t i = 0; i < types.size(); ++i) phones.push_back(&w.add("phone" + std::to_string(i), types[i]));
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));

  auto asked = w.now();
  for (auto* p : phones) p->machine->connect(home.config.id, asked);
  auto ended = [&](const Devices::Dev& d) {
    return !d.events<ConnectedEvent>().empty() || !d.events<AttemptFailedEvent>().empty();
  };
  // The agent's registration must stay live the whole time (refresh every 5 s goes on).
  int lapses = 0;
  while (!std::all_of(phones.begin(), phones.end(), [&](auto* p) { return ended(*p); }) && w.now() < asked + 120s) {
    w.run_until(w.now() + 500ms);
    lapses += !w.live_record("home");
  }
  EXPECT_EQ(lapses, 0);

  // Exactly one was told busy, at once; every other one connected, on both sides.
  auto busy = home.events<AttemptBusyEvent>();
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_NE(busy[0].second.reason.find("busy: 8 attempts"), std::string::npos) << busy[0].second.reason;
  Devices::Dev* refused = nullptr;
  for (auto* p : phones) {
    if (p->config.id == busy[0].second.peer) {
      refused = p;
      continue;
    }
    ASSERT_EQ(p->events<ConnectedEvent>().size(), 1u) << p->name;
  }
  ASSERT_NE(refused, nullptr);
  auto failed = refused->events<AttemptFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].second.error.find("gave up"), std::string::npos) << failed[0].second.error;
  EXPECT_LT(failed[0].first - asked, 2s);  // not the plan's whole budget
  EXPECT_EQ(home.events<ConnectedEvent>().size(), 8u);
  // Both ends of each path agree: the agent's remote is the phone's public address on the path.
  for (const auto& event : home.events<ConnectedEvent>()) {
    const auto& c = event.second;  // not a structured binding: clang 14 cannot capture those
    EXPECT_FALSE(c.initiator);
    auto* p = *std::find_if(phones.begin(), phones.end(), [&](auto* x) { return x->config.id == c.peer; });
    auto mine = p->events<ConnectedEvent>()[0].second;
    EXPECT_EQ(mine.token, c.token);
    EXPECT_TRUE(mine.initiator);
  }
  EXPECT_EQ(home.machine->counters().attempts, 8u);
  EXPECT_LE(home.machine->sockets_in_use(), home.config.max_sockets);

  // Later, with room again, the one told busy connects.
  refused->machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !refused->events<ConnectedEvent>().empty(); }));
}

TEST(DeviceAttempts, ASilentPeerIsCutAtItsDeadlineAndDelaysNobody) {
  Devices w(test::test_seed("attempts-silent"));
  auto& home = w.add("home", "port-restricted-cone", open_device);
  auto& silent = w.add("silent", "symmetric-random");
  auto& phone = w.add("phone", "full-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));

  // The silent one asks for the agent, and from then on nothing of it runs (as if its network
  // dropped everything after the request).
  silent.machine->connect(home.config.id, w.now());
  silent.host->flush();
  silent.paused = true;
  auto asked = w.now();
  ASSERT_TRUE(w.run_until(asked + 1s, [&] { return home.machine->active_attempts() == 1; }));
  w.run_until(asked + 1s);
  phone.machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !home.events<AttemptFailedEvent>().empty(); }));

  auto connected = home.events<ConnectedEvent>();
  auto failed = home.events<AttemptFailedEvent>();
  ASSERT_EQ(connected.size(), 1u);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(connected[0].second.peer, phone.config.id);
  EXPECT_EQ(failed[0].second.peer, silent.config.id);
  EXPECT_LT(connected[0].first, failed[0].first);  // the phone was not kept waiting
  EXPECT_LT(connected[0].first - asked, 3s);
  EXPECT_TRUE(failed[0].second.silent_peer) << failed[0].second.error;
  // Birthday (listen first) with the agent spraying: the listener's 256 sockets at 50/s, then 10 s.
  EXPECT_GE(failed[0].second.elapsed, 15s);
  EXPECT_LT(failed[0].second.elapsed, 16s);
  EXPECT_EQ(home.machine->active_attempts(), 0u);
}

TEST(DeviceAttempts, ABirthdayListenerIsNotCutForSilence) {
  Devices w(test::test_seed("attempts-listener"));
  auto& home = w.add("home", "symmetric-random-narrow", open_device);
  auto& silent = w.add("silent", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  silent.machine->connect(home.config.id, w.now());
  silent.host->flush();
  silent.paused = true;
  auto asked = w.now();
  w.run_until(asked + 25s);
  // Listening (its 256 sockets open) well past the silent-peer limit: a listener hears nothing
  // until a probe hits.
  EXPECT_EQ(home.machine->active_attempts(), 1u);
  EXPECT_GE(home.machine->sockets_in_use(), 256u);
  ASSERT_TRUE(w.run_until(asked + 120s, [&] { return !home.events<AttemptFailedEvent>().empty(); }));
  auto failed = home.events<AttemptFailedEvent>();
  EXPECT_FALSE(failed[0].second.silent_peer);
  EXPECT_GE(failed[0].second.elapsed, 40s);  // the plan's budget ran out
  // Its sockets went back.
  w.run_until(w.now() + 11s);
  EXPECT_EQ(home.machine->sockets_in_use(), 0u);
}

TEST(DeviceAttempts, AnAttemptWhoseSocketsWouldPassTheLimitIsRefusedAsBusy) {
  Devices w(test::test_seed("attempts-sockets"));
  // A listener needs 256 sockets per attempt: 300 leave room for one.
  auto& home = w.add("home", "symmetric-random-narrow", [](DeviceConfig& c) {
    c.admission.allow_any = true;
    c.max_sockets = 300;
  });
  auto& a = w.add("a", "port-restricted-cone");
  auto& b = w.add("b", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  a.machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 2s, [&] { return home.machine->active_attempts() == 1; }));
  b.machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 5s, [&] { return !home.events<AttemptBusyEvent>().empty(); }));
  auto busy = home.events<AttemptBusyEvent>();
  EXPECT_EQ(busy[0].second.peer, b.config.id);
  EXPECT_NE(busy[0].second.reason.find("limit of 300"), std::string::npos) << busy[0].second.reason;
  EXPECT_LE(home.machine->sockets_in_use(), 300u);
  ASSERT_TRUE(w.run_until(w.now() + 5s, [&] { return !b.events<AttemptFailedEvent>().empty(); }));
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !a.events<ConnectedEvent>().empty(); }));
}

TEST(DeviceAttempts, APinnedKeyThatDiffersRefusesTheIntroductionBeforeAnythingIsSent) {
  Devices w(test::test_seed("attempts-pinned"));
  auto& home = w.add("home", "full-cone", [](DeviceConfig& c) {
    c.admission.pinned.emplace("alice", key_for(99).public_key());  // not alice's key
  });
  auto& alice = w.add("alice", "full-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  auto sent_before = home.host->datagrams_sent();
  alice.machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 5s, [&] { return !home.events<AttemptRefusedEvent>().empty(); }));
  EXPECT_EQ(home.events<AttemptRefusedEvent>()[0].second.reason, Refusal::PinnedKeyMismatch);
  EXPECT_EQ(home.machine->counters().attempts, 0u);
  EXPECT_EQ(home.host->datagrams_sent(), sent_before);  // not a packet toward alice (nor the server)
}

TEST(DeviceAttempts, ANewAttemptFromThePeerSupersedesItsOldOne) {
  Devices w(test::test_seed("attempts-supersede"));
  // One attempt at a time: the old one must make room, not make the peer wait or be turned away.
  auto& home = w.add("home", "port-restricted-cone", [](DeviceConfig& c) {
    c.admission.allow_any = true;
    c.max_attempts = 1;
  });
  auto& phone = w.add("phone", "symmetric-random");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  // The phone asks, then goes quiet (its first attempt is lost to it), then asks again.
  phone.machine->connect(home.config.id, w.now());
  phone.host->flush();
  phone.paused = true;
  ASSERT_TRUE(w.run_until(w.now() + 2s, [&] { return home.machine->active_attempts() == 1; }));
  w.run_until(w.now() + 2s);
  phone.paused = false;
  phone.machine->connect(home.config.id, w.now());
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !home.events<ConnectedEvent>().empty(); }));
  auto failed = home.events<AttemptFailedEvent>();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_TRUE(failed[0].second.superseded) << failed[0].second.error;
  EXPECT_TRUE(home.events<AttemptBusyEvent>().empty());
  EXPECT_LT(failed[0].first, home.events<ConnectedEvent>()[0].first);
}

}  // namespace
}  // namespace natpunch

namespace natpunch {
namespace {

// ConnectOptions (DeviceMachine::connect): attempts from the request step, the deadline over them
// all, the relay only when the server offers one (the simulated server does not).
ConnectOptions connect_options(int attempts, std::optional<TimePoint> deadline = std::nullopt,
                               RelayUse relay = RelayUse::Auto) {
  ConnectOptions o;
  o.attempts = attempts;
  o.deadline = deadline;
  o.relay = relay;
  return o;
}

TEST(DeviceConnect, AnAttemptLostToThePeerIsAskedForAgainFromTheRequestAndConnects) {
  Devices w(test::test_seed("connect-retry"));
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  // The home device misses the first introduction (and everything else) while it is paused.
  home.paused = true;
  phone.machine->connect(home.config.id, w.now(), connect_options(3));
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !phone.events<AttemptFailedEvent>().empty(); }));
  EXPECT_TRUE(phone.events<ConnectFailedEvent>().empty());  // not the end: attempts are left
  home.paused = false;
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !phone.events<ConnectedEvent>().empty(); }));
  auto connected = phone.events<ConnectedEvent>()[0].second;
  EXPECT_EQ(connected.attempts, 2);
  EXPECT_EQ(phone.events<IntroducedEvent>().size(), 2u);
  EXPECT_NE(phone.events<IntroducedEvent>()[0].second.token, phone.events<IntroducedEvent>()[1].second.token);
  EXPECT_TRUE(phone.events<ConnectFailedEvent>().empty());
}

TEST(DeviceConnect, APeerThatNeverAnswersEndsTheConnectAfterItsAttemptsWithTheLastError) {
  Devices w(test::test_seed("connect-exhausted"));
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  home.paused = true;
  phone.machine->connect(home.config.id, w.now(), connect_options(2));
  ASSERT_TRUE(w.run_until(w.now() + 120s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto failed = phone.events<ConnectFailedEvent>()[0].second;
  EXPECT_EQ(failed.attempts, 2);
  EXPECT_FALSE(failed.relay_tried);  // none offered
  EXPECT_EQ(phone.events<IntroducedEvent>().size(), 2u);
  auto attempts = phone.events<AttemptFailedEvent>();
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(failed.error, attempts[1].second.error);
  // And then nothing more: no third request, nothing toward the home device.
  auto sent = phone.host->datagrams_sent();
  auto requests = phone.events<IntroducedEvent>().size();
  w.run_until(w.now() + 30s);
  EXPECT_EQ(phone.events<IntroducedEvent>().size(), requests);
  EXPECT_LE(phone.host->datagrams_sent() - sent, 20u);  // registration refreshes only
}

TEST(DeviceConnect, TheConnectsDeadlineEndsItWhateverAttemptsAreLeft) {
  Devices w(test::test_seed("connect-deadline"));
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  home.paused = true;
  auto deadline = w.now() + 4s;
  phone.machine->connect(home.config.id, w.now(), connect_options(10, deadline));
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto [at, failed] = phone.events<ConnectFailedEvent>()[0];
  EXPECT_LE(at, deadline + 10ms);
  EXPECT_LT(failed.attempts, 10);
  EXPECT_FALSE(failed.error.empty());
}

TEST(DeviceConnect, RelayOnlyWithoutARelayOfferedFailsSayingSoAndPunchesNothing) {
  Devices w(test::test_seed("connect-relay-only"));
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  phone.machine->connect(home.config.id, w.now(), connect_options(3, std::nullopt, RelayUse::Only));
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto failed = phone.events<ConnectFailedEvent>()[0].second;
  EXPECT_NE(failed.error.find("offers no relay"), std::string::npos) << failed.error;
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_EQ(phone.machine->counters().attempts, 0u);
  EXPECT_TRUE(phone.events<ConnectedEvent>().empty());
}

// The relay decision: with a relay offered, one failed punching attempt is enough and the relay is
// next (the simulator has no TURN server: the offered address is silent, so the relay fails, and
// says why); with --no-relay, every attempt is made and nothing goes to the relay.
const SocketAddress kSilentRelay = SocketAddress::v4({198, 18, 0, 1}, 3478);

TEST(DeviceConnect, WithARelayOfferedOneFailedAttemptGoesToTheRelay) {
  Devices w(test::test_seed("connect-relay-offered"), 60s, TurnOffer{kSilentRelay, "secret", 600s});
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  home.paused = true;
  phone.machine->connect(home.config.id, w.now(), connect_options(3, w.now() + 40s));
  ASSERT_TRUE(w.run_until(w.now() + 60s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto failed = phone.events<ConnectFailedEvent>()[0].second;
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_TRUE(failed.relay_tried);
  EXPECT_NE(failed.error.find("relay"), std::string::npos) << failed.error;
  auto introduced = phone.events<IntroducedEvent>();
  ASSERT_EQ(introduced.size(), 1u);
  EXPECT_EQ(introduced[0].second.relay_offered, kSilentRelay);
  EXPECT_TRUE(phone.events<ConnectedEvent>().empty());
}

TEST(DeviceConnect, NoRelayMakesEveryAttemptAndNeverTheRelay) {
  Devices w(test::test_seed("connect-no-relay"), 60s, TurnOffer{kSilentRelay, "secret", 600s});
  auto& home = w.add("home", "full-cone", open_device);
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  home.paused = true;
  phone.machine->connect(home.config.id, w.now(), connect_options(2, std::nullopt, RelayUse::Never));
  ASSERT_TRUE(w.run_until(w.now() + 120s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto failed = phone.events<ConnectFailedEvent>()[0].second;
  EXPECT_EQ(failed.attempts, 2);
  EXPECT_FALSE(failed.relay_tried);
}

TEST(DeviceConnect, AnUnknownPeerIsNotAskedForAgain) {
  Devices w(test::test_seed("connect-unknown"));
  auto& phone = w.add("phone", "port-restricted-cone");
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return w.all_registered(); }));
  phone.machine->connect(*make_device_id(IdKind::UserName, "nobody"), w.now(), connect_options(3));
  ASSERT_TRUE(w.run_until(w.now() + 30s, [&] { return !phone.events<ConnectFailedEvent>().empty(); }));
  auto failed = phone.events<ConnectFailedEvent>()[0].second;
  EXPECT_EQ(failed.attempts, 1);  // the server's refusal does not change by asking again
  EXPECT_FALSE(failed.error.empty());
}

}  // namespace
}  // namespace natpunch
