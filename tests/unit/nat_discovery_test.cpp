// RFC 5780 discovery (NatDiscovery) on a virtual clock: natpunch's own request handler as the
// server, behind a small model of each lab NAT type, with loss and delay where a test asks for it.
#include "nat/nat_discovery.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <queue>
#include <random>
#include <set>

#include "nat/port_allocation.h"
#include "server/request_handler.h"
#include "server/socket_plan.h"
#include "test_seed.h"
#include "wire/address_codec.h"
#include "wire/builder.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

const SocketAddress kPrimary = addr("203.0.113.1:3478");
const SocketAddress kAlternate = addr("203.0.113.2:3479");
const SocketAddress kHostIp = addr("10.0.1.2:0");
const SocketAddress kPublicIp = addr("203.0.113.10:0");

// How the modelled NAT picks the outside port of a new mapping.
enum class Ports { Preserve, Random, Sequential, PreserveFirst };

struct NatModel {
  bool present = true;  // false: the host is on the internet itself (lab type `open`)
  Dependence mapping = Dependence::EndpointIndependent;
  Dependence filtering = Dependence::AddressAndPortDependent;
  Ports ports = Ports::Preserve;
  std::uint16_t lo = 1024, hi = 65535;  // Random / PreserveFirst's later flows
  std::uint16_t base = 40000;           // Sequential
  int delta = 1;
  // Ports handed to the first new mappings, in order, even if another mapping has them (a NAT with
  // per-destination mappings may reuse a port toward another destination).
  std::vector<std::uint16_t> forced;
};

// The lab's types (docs/lab.md), as models.
NatModel lab_type(const std::string& name) {
  using D = Dependence;
  NatModel m;
  if (name == "open")
    m.present = false;
  else if (name == "full-cone")
    m.filtering = D::EndpointIndependent;
  else if (name == "restricted-cone")
    m.filtering = D::AddressDependent;
  else if (name == "port-restricted-cone") {
  } else if (name == "port-restricted-cone-random") {
    m.ports = Ports::Random, m.lo = 20000, m.hi = 29999;
  } else {
    m.mapping = D::AddressAndPortDependent;
    if (name == "symmetric-random")
      m.ports = Ports::Random;
    else if (name == "symmetric-random-narrow")
      m.ports = Ports::Random, m.lo = 30000, m.hi = 30255;
    else if (name == "symmetric-sequential")
      m.ports = Ports::Sequential;
    else if (name == "symmetric-preserve-first")
      m.ports = Ports::PreserveFirst;
    else
      ADD_FAILURE() << "unknown lab type " << name;
  }
  return m;
}

class ModelNat {
 public:
  ModelNat(NatModel model, std::uint32_t seed) : m_(model), rng_(seed) {}

  // Outbound from inside socket `socket` (inside port `port`) to `to`: the outside source address.
  SocketAddress out(std::size_t socket, std::uint16_t port, const SocketAddress& to) {
    auto pub = kPublicIp;
    if (!m_.present) {
      pub.port = port;
      return pub;
    }
    Key key{socket, m_.mapping == Dependence::EndpointIndependent ? SocketAddress{} : to};
    if (m_.mapping == Dependence::AddressDependent) key.second.port = 0;
    auto it = mappings_.find(key);
    if (it == mappings_.end()) it = mappings_.emplace(key, Mapping{socket, allocate(socket, port), {}}).first;
    it->second.contacted.push_back(to);
    pub.port = it->second.port;
    return pub;
  }

  // Inbound from `from` to outside port `port`: the inside socket, if the filter lets it in.
  std::optional<std::size_t> in(const SocketAddress& from, std::uint16_t port,
                                const std::vector<std::uint16_t>& locals) {
    if (!m_.present) {
      for (std::size_t i = 0; i < locals.size(); ++i)
        if (locals[i] == port) return i;
      return std::nullopt;
    }
    for (const auto& [key, mapping] : mappings_) {
      if (mapping.port != port) continue;
      for (const auto& c : mapping.contacted) {
        if (m_.filtering == Dependence::EndpointIndependent ||
            (m_.filtering == Dependence::AddressDependent && c.same_ip(from)) || c == from)
          return mapping.socket;
      }
    }
    return std::nullopt;
  }

 private:
  using Key = std::pair<std::size_t, SocketAddress>;
  struct Mapping {
    std::size_t socket;
    std::uint16_t port;
    std::vector<SocketAddress> contacted;
  };

  std::uint16_t allocate(std::size_t socket, std::uint16_t inside) {
    bool first_flow = seen_.insert(socket).second;
    if (forced_next_ < m_.forced.size()) return m_.forced[forced_next_++];
    for (;;) {
      std::uint16_t p = 0;
      switch (m_.ports) {
        case Ports::Preserve: p = used_.count(inside) ? random_port() : inside; break;
        case Ports::Random: p = random_port(); break;
        case Ports::Sequential: p = static_cast<std::uint16_t>(m_.base + m_.delta * next_++); break;
        case Ports::PreserveFirst: p = first_flow && !used_.count(inside) ? inside : random_port(); break;
      }
      if (used_.insert(p).second) return p;
    }
  }
  std::uint16_t random_port() { return std::uniform_int_distribution<int>(m_.lo, m_.hi)(rng_); }

  NatModel m_;
  std::mt19937 rng_;
  std::map<Key, Mapping> mappings_;
  std::set<std::uint16_t> used_;
  std::set<std::size_t> seen_;
  int next_ = 0;
  std::size_t forced_next_ = 0;
};

RandomSource counting_random() {
  auto counter = std::make_shared<std::uint8_t>(0);
  return [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
}

// A datagram on the virtual wire, for loss rules.
struct Packet {
  bool to_server = false;
  SocketAddress from;  // outside addresses (after NAT on the way out)
  SocketAddress to;
  TransactionId transaction{};
};

// The host's sockets, the NAT, the server and a wire with a fixed one-way delay, on a virtual clock.
class VirtualLab {
 public:
  explicit VirtualLab(NatModel nat, std::uint32_t seed = 1, bool server_has_alternate = true)
      : nat_(nat, seed), server_(server_config(server_has_alternate), counting_random()) {
    for (std::size_t i = 0; i < kNatDiscoverySockets; ++i)
      local_ports.push_back(static_cast<std::uint16_t>(50000 + 7 * i));
    host_ip_ = nat.present ? kHostIp : kPublicIp;
  }

  NatDiscoveryConfig config() const {
    NatDiscoveryConfig c;
    c.server = kPrimary;
    auto local = host_ip_;
    local.port = local_ports[0];
    c.local_addresses = {local};
    c.local_ports = local_ports;
    c.random = counting_random();
    return c;
  }

  // Runs the machine to the end (or `limit` of virtual time).
  const NatDiscoveryResult& run(NatDiscovery& m, milliseconds limit = 60s) {
    now_ = t0;
    send(m.start(now_));
    for (int steps = 0; !m.finished() && now_ < t0 + limit && steps < 100000; ++steps) {
      auto next = m.next_deadline();
      if (!queue_.empty() && (!next || queue_.top().at < *next)) next = queue_.top().at;
      if (!next) break;
      EXPECT_GE(*next, now_ - 1ms) << "a deadline in the past";
      now_ = std::max(now_, *next);
      while (!queue_.empty() && queue_.top().at <= now_) {
        auto e = queue_.top();
        queue_.pop();
        e.run(m);
      }
      if (auto d = m.next_deadline(); d && *d <= now_ && !m.finished()) send(m.on_timer(now_));
    }
    EXPECT_TRUE(m.finished()) << "not finished after " << limit.count() << " ms of virtual time";
    return m.result();
  }

  std::vector<std::uint16_t> local_ports;
  milliseconds one_way{5};
  std::function<bool(const Packet&)> drop;  // true: the packet is lost
  // Server replies go out from this socket instead (a server that ignores CHANGE-REQUEST: 0).
  std::optional<std::uint8_t> force_reply_socket;
  bool server_silent = false;
  int requests_seen = 0;
  const TimePoint t0{std::chrono::seconds(5000)};

 private:
  struct Event {
    TimePoint at;
    std::uint64_t seq;
    std::function<void(NatDiscovery&)> run;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  static ServerConfig server_config(bool alternate) {
    ServerConfig c;
    c.sockets = plan_sockets({kPrimary}, alternate ? std::optional(kAlternate) : std::nullopt);
    return c;
  }
  static TransactionId id_of(const Bytes& b) {
    auto h = read_header(b);
    return h ? h->transaction : TransactionId{};
  }
  void later(std::function<void(NatDiscovery&)> f) { queue_.push(Event{now_ + one_way, seq_++, std::move(f)}); }

  void send(std::vector<OutDatagram> out) {
    for (auto& d : out) {
      auto src = nat_.out(d.socket, local_ports.at(d.socket), d.to);
      ++requests_seen;
      if (drop && drop(Packet{true, src, d.to, id_of(d.bytes)})) continue;
      later([this, src, d = std::move(d)](NatDiscovery&) { to_server(d.bytes, src, d.to); });
    }
  }

  void to_server(const Bytes& bytes, const SocketAddress& src, const SocketAddress& to) {
    if (server_silent) return;
    std::optional<std::uint8_t> socket;
    for (std::size_t i = 0; i < sockets_.size(); ++i)
      if (sockets_[i] == to) socket = static_cast<std::uint8_t>(i);
    if (!socket) return;  // nothing listens there
    for (auto& r : server_.handle(Datagram{bytes, src, *socket}, now_)) {
      auto via = force_reply_socket.value_or(r.socket);
      auto from = sockets_.at(via);
      if (drop && drop(Packet{false, from, r.destination, id_of(r.bytes)})) continue;
      later([this, from, r = std::move(r)](NatDiscovery& m) {
        auto inside = nat_.in(from, r.destination.port, local_ports);
        if (!inside) return;  // filtered
        send(m.on_datagram(InDatagram{*inside, from, r.bytes}, now_));
      });
    }
  }

  ModelNat nat_;
  RequestHandler server_;
  SocketAddress host_ip_;
  std::vector<SocketAddress> sockets_ = [] {
    std::vector<SocketAddress> out;
    for (const auto& r : plan_sockets({kPrimary}, kAlternate)) out.push_back(r.address);
    return out;
  }();
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  TimePoint now_{};
};

NatDiscoveryResult discover(VirtualLab& lab) {
  NatDiscovery m(lab.config());
  return lab.run(m);
}

// --- every lab type is named right ---------------------------------------------------------------

class LabTypes : public ::testing::TestWithParam<const char*> {};

TEST_P(LabTypes, NamedAsTheLabNamesIt) {
  const std::string type = GetParam();
  const auto seed0 = static_cast<std::uint32_t>(test::test_seed("LabTypes." + type));
  for (std::uint32_t seed = seed0; seed != seed0 + 20; ++seed) {
    VirtualLab lab(lab_type(type), seed);
    auto r = discover(lab);
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(type_name(r), type) << "seed " << seed << " mapping " << to_string(r.behavior.mapping) << " filtering "
                                  << to_string(r.behavior.filtering) << " allocation "
                                  << to_string(r.behavior.allocation);
    EXPECT_EQ(r.other_address, kAlternate);
    EXPECT_EQ(r.ignored, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Discovery, LabTypes,
                         ::testing::Values("open", "full-cone", "restricted-cone", "port-restricted-cone",
                                           "port-restricted-cone-random", "symmetric-random", "symmetric-random-narrow",
                                           "symmetric-sequential", "symmetric-preserve-first"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(NatDiscovery, ReportsEveryBehaviourOfAPortRestrictedCone) {
  VirtualLab lab(lab_type("port-restricted-cone"));
  auto r = discover(lab);
  ASSERT_TRUE(r.ok());
  const auto& b = r.behavior;
  EXPECT_TRUE(b.behind_nat);
  EXPECT_EQ(b.mapping, Dependence::EndpointIndependent);
  EXPECT_EQ(b.filtering, Dependence::AddressAndPortDependent);
  EXPECT_TRUE(b.port_preserved);
  EXPECT_EQ(b.allocation, Allocation::Preserved);
  EXPECT_EQ(r.mapped, addr("203.0.113.10:50000"));
  EXPECT_EQ(r.mapped_alternate_ip, r.mapped);
  EXPECT_EQ(r.change_ip_and_port, ProbeOutcome::NoAnswer);
  EXPECT_EQ(r.change_port, ProbeOutcome::NoAnswer);
  EXPECT_EQ(r.response_origin, kPrimary);
  EXPECT_EQ(r.rtt, 10ms);
}

TEST(NatDiscovery, OpenHostIsNotBehindNat) {
  VirtualLab lab(lab_type("open"));
  auto r = discover(lab);
  EXPECT_FALSE(r.behavior.behind_nat);
  EXPECT_EQ(r.behavior.mapping, Dependence::EndpointIndependent);
  EXPECT_EQ(r.behavior.filtering, Dependence::EndpointIndependent);
}

TEST(NatDiscovery, AddressDependentMapping) {
  auto model = lab_type("symmetric-random");
  model.mapping = Dependence::AddressDependent;
  VirtualLab lab(model);
  auto r = discover(lab);
  EXPECT_EQ(r.behavior.mapping, Dependence::AddressDependent);
  EXPECT_EQ(r.mapped_alternate_ip, r.mapped_alternate_both);
  EXPECT_NE(r.mapped_alternate_ip, r.mapped);
  EXPECT_EQ(r.mapped_alternate_port, r.mapped);
}

TEST(NatDiscovery, CoincidentPortsOnASymmetricNatAreNotEndpointIndependent) {
  // Socket 0's flows: I, II, III, then primary IP + alternate port.
  for (std::vector<std::uint16_t> ports :
       {std::vector<std::uint16_t>{30001, 30001, 30002, 30003}, std::vector<std::uint16_t>{30001, 30001, 30001, 30004},
        std::vector<std::uint16_t>{30001, 30002, 30002, 30003}}) {
    auto model = lab_type("symmetric-random-narrow");
    model.forced = ports;
    VirtualLab lab(model);
    auto r = discover(lab);
    EXPECT_EQ(r.behavior.mapping, Dependence::AddressAndPortDependent)
        << ports[0] << " " << ports[1] << " " << ports[2];
    EXPECT_EQ(type_name(r), "symmetric-random-narrow");
  }
}

TEST(NatDiscovery, SequentialReportsItsDelta) {
  for (int delta : {1, 2, 5, -1, -3}) {
    auto model = lab_type("symmetric-sequential");
    model.delta = delta;
    VirtualLab lab(model);
    auto r = discover(lab);
    EXPECT_EQ(r.behavior.allocation, Allocation::Sequential) << delta;
    EXPECT_EQ(r.behavior.port_delta, delta);
    EXPECT_EQ(r.mapped.port, 40000);  // test I's flow is the NAT's first
    EXPECT_EQ(type_name(r), "symmetric-sequential");
  }
}

TEST(NatDiscovery, ConeWithSequentialPortsIsStillACone) {
  auto model = lab_type("port-restricted-cone");
  model.ports = Ports::Sequential;
  VirtualLab lab(model);
  auto r = discover(lab);
  EXPECT_EQ(r.behavior.mapping, Dependence::EndpointIndependent);
  EXPECT_EQ(r.behavior.allocation, Allocation::Sequential);
  EXPECT_EQ(r.behavior.port_delta, 1);
  EXPECT_EQ(type_name(r), "port-restricted-cone-random");
}

TEST(NatDiscovery, TransactionIdsComeFromTheInjectedSource) {
  VirtualLab lab(lab_type("full-cone"));
  auto config = lab.config();
  NatDiscovery m(config);
  auto out = m.start(lab.t0);
  ASSERT_EQ(out.size(), 1u);
  auto header = read_header(out[0].bytes);
  ASSERT_TRUE(header);
  TransactionId expected{};
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = std::byte{static_cast<std::uint8_t>(i + 1)};
  EXPECT_EQ(header->transaction, expected);
  EXPECT_EQ(out[0].socket, 0u);
  EXPECT_EQ(out[0].to, kPrimary);
}

// --- time is bounded ----------------------------------------------------------------------------

TEST(NatDiscovery, EndpointIndependentFilteringFinishesInAFewRoundTrips) {
  VirtualLab lab(lab_type("full-cone"));
  auto r = discover(lab);
  EXPECT_EQ(r.elapsed, 20ms);  // test I, then everything else in parallel
}

TEST(NatDiscovery, SilentFilterCostsOneWindow) {
  for (const char* type : {"port-restricted-cone", "restricted-cone", "symmetric-random"}) {
    VirtualLab lab(lab_type(type));
    auto r = discover(lab);
    EXPECT_EQ(r.elapsed, 10ms + 1000ms) << type;  // test I's round trip + the window
    EXPECT_LE(r.requests_sent, 40u) << type;
  }
}

TEST(NatDiscovery, SlowPathStretchesTheWindow) {
  VirtualLab lab(lab_type("restricted-cone"));
  lab.one_way = 200ms;
  auto r = discover(lab);
  EXPECT_EQ(type_name(r), "restricted-cone");
  EXPECT_EQ(r.rtt, 400ms);
  EXPECT_EQ(r.elapsed, 400ms + 1600ms);  // window = 4 RTT
}

TEST(NatDiscovery, SilentServerGivesUpAtTheTimeout) {
  VirtualLab lab(lab_type("full-cone"));
  lab.server_silent = true;
  auto config = lab.config();
  config.server_timeout = 2000ms;
  NatDiscovery m(config);
  auto r = lab.run(m);
  EXPECT_EQ(r.error, DiscoveryError::NoAnswer);
  EXPECT_EQ(r.elapsed, 2000ms);
  EXPECT_EQ(r.requests_sent, 5u);  // 0, 100, 300, 700, 1500 ms
  EXPECT_NE(r.message.find("did not answer"), std::string::npos);
}

TEST(NatDiscovery, ServerWithoutAlternateIsAnErrorAtOnce) {
  VirtualLab lab(lab_type("full-cone"), 1, false);
  auto r = discover(lab);
  EXPECT_EQ(r.error, DiscoveryError::NoAlternateAddress);
  EXPECT_EQ(r.elapsed, 10ms);
  EXPECT_EQ(r.requests_sent, 1u);
  EXPECT_NE(r.message.find("OTHER-ADDRESS"), std::string::npos);
}

// --- loss ---------------------------------------------------------------------------------------

// Drops the first `n` answers to every transaction.
std::function<bool(const Packet&)> lose_first_answers(int n) {
  auto seen = std::make_shared<std::map<TransactionId, int>>();
  return [seen, n](const Packet& p) { return !p.to_server && (*seen)[p.transaction]++ < n; };
}

TEST(NatDiscovery, LostAnswersAreRetransmittedForEveryType) {
  for (const char* type :
       {"open", "full-cone", "restricted-cone", "port-restricted-cone", "port-restricted-cone-random",
        "symmetric-random", "symmetric-random-narrow", "symmetric-sequential", "symmetric-preserve-first"}) {
    VirtualLab lab(lab_type(type));
    lab.drop = lose_first_answers(2);
    auto r = discover(lab);
    ASSERT_TRUE(r.ok()) << type << ": " << r.message;
    EXPECT_EQ(type_name(r), type);
    EXPECT_LE(r.elapsed, 310ms + 4 * 310ms) << type;  // the window stretched to 4 × test I's time
  }
}

TEST(NatDiscovery, LostRequestsAreRetransmittedToo) {
  VirtualLab lab(lab_type("restricted-cone"));
  auto seen = std::make_shared<std::map<TransactionId, int>>();
  lab.drop = [seen](const Packet& p) { return p.to_server && (*seen)[p.transaction]++ < 3; };
  auto r = discover(lab);
  EXPECT_EQ(type_name(r), "restricted-cone");
}

TEST(NatDiscovery, FullConeWhoseChangeAnswersAreLostTwiceIsStillFullCone) {
  VirtualLab lab(lab_type("full-cone"));
  int lost = 0;
  lab.drop = [&](const Packet& p) { return !p.to_server && p.from != kPrimary && lost++ < 4; };
  auto r = discover(lab);
  EXPECT_EQ(r.behavior.filtering, Dependence::EndpointIndependent);
  EXPECT_GE(lost, 4);
}

TEST(NatDiscovery, RestrictedConeWhoseChangePortAnswersAreLostIsStillRestricted) {
  VirtualLab lab(lab_type("restricted-cone"));
  int lost = 0;
  lab.drop = [&](const Packet& p) { return !p.to_server && p.from == addr("203.0.113.1:3479") && lost++ < 2; };
  auto r = discover(lab);
  EXPECT_EQ(r.behavior.filtering, Dependence::AddressDependent);
}

TEST(NatDiscovery, FilteringSocketHearingNothingIsUnknownNotPortRestricted) {
  VirtualLab lab(lab_type("full-cone"));
  // Everything to the filtering socket's outside port is lost (its mapping is the second flow).
  lab.drop = [](const Packet& p) { return !p.to_server && p.to == addr("203.0.113.10:50007"); };
  auto r = discover(lab);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.behavior.filtering, Dependence::Unknown);
  EXPECT_EQ(type_name(r), "cone");
}

TEST(NatDiscovery, ServerIgnoringChangeRequestDoesNotLookLikeAnOpenFilter) {
  VirtualLab lab(lab_type("port-restricted-cone"));
  lab.force_reply_socket = 0;  // every answer from the primary address
  auto r = discover(lab);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.change_ip_and_port, ProbeOutcome::WrongSource);
  EXPECT_EQ(r.behavior.filtering, Dependence::Unknown);
}

TEST(NatDiscovery, GarbageAndStrayResponsesAreIgnored) {
  VirtualLab lab(lab_type("full-cone"));
  NatDiscovery m(lab.config());
  auto out = m.start(lab.t0);
  std::vector<std::byte> junk(40, std::byte{0x41});
  EXPECT_TRUE(m.on_datagram(InDatagram{0, kPrimary, junk}, lab.t0 + 1ms).empty());
  MessageBuilder b(stun::method::kBinding, stun::MessageClass::Success, TransactionId{});
  b.add_xor_address(stun::attr::kXorMappedAddress, addr("198.51.100.1:1"));
  auto stray = b.finish();
  EXPECT_TRUE(m.on_datagram(InDatagram{0, kPrimary, stray}, lab.t0 + 2ms).empty());
  EXPECT_FALSE(m.finished());
  EXPECT_EQ(m.result().ignored, 2u);
}

// --- allocation analysis on its own --------------------------------------------------------------

std::vector<MappingSample> samples(std::initializer_list<std::pair<std::size_t, std::uint16_t>> socket_and_port,
                                   std::uint16_t local_base = 50000) {
  std::vector<MappingSample> out;
  for (auto [socket, port] : socket_and_port) {
    auto mapped = kPublicIp;
    mapped.port = port;
    out.push_back({socket, static_cast<std::uint16_t>(local_base + socket), kPrimary, mapped});
  }
  return out;
}

TEST(PortAllocation, RepeatedMappingsOfOneSocketAreNotStepZero) {
  auto p = analyze_port_allocation(samples({{0, 23001}, {0, 23001}, {1, 27514}, {2, 21007}, {3, 29950}}));
  EXPECT_EQ(p.allocation, Allocation::Random);
  EXPECT_EQ(p.new_mappings, 4u);
}

TEST(PortAllocation, SequentialWithGapsFromOtherHosts) {
  auto p = analyze_port_allocation(samples({{0, 40000}, {0, 40001}, {0, 40003}, {1, 40004}, {2, 40005}, {3, 40008}}));
  EXPECT_EQ(p.allocation, Allocation::Sequential);
  EXPECT_EQ(p.port_delta, 1);
}

TEST(PortAllocation, TooLargeOrMixedStepsAreRandom) {
  EXPECT_EQ(analyze_port_allocation(samples({{0, 40000}, {1, 40020}, {2, 40040}})).allocation, Allocation::Random);
  EXPECT_EQ(analyze_port_allocation(samples({{0, 40000}, {1, 40001}, {2, 40000 - 1}})).allocation, Allocation::Random);
}

TEST(PortAllocation, PreservedAndPreservedFirst) {
  auto kept = analyze_port_allocation(samples({{0, 50000}, {1, 50001}, {2, 50002}}));
  EXPECT_EQ(kept.allocation, Allocation::Preserved);
  EXPECT_TRUE(kept.first_preserved);
  auto first = analyze_port_allocation(samples({{0, 50000}, {0, 8812}, {0, 61234}, {1, 50001}, {2, 50002}}));
  EXPECT_EQ(first.allocation, Allocation::Random);
  EXPECT_TRUE(first.first_preserved);
  EXPECT_EQ(first.translated, 2u);
}

TEST(PortAllocation, NarrowPoolNeedsFourTranslatedPorts) {
  EXPECT_TRUE(analyze_port_allocation(samples({{0, 30010}, {0, 30200}, {1, 30099}, {2, 30001}})).narrow);
  EXPECT_FALSE(analyze_port_allocation(samples({{0, 30010}, {0, 30200}, {1, 30099}})).narrow);
  EXPECT_FALSE(analyze_port_allocation(samples({{0, 3010}, {0, 30200}, {1, 30099}, {2, 60001}})).narrow);
}

TEST(RegisteredBehavior, NarrowPoolIsWidenedByTheGermanTankMargin) {
  NatDiscoveryResult r;
  r.behavior.mapping = Dependence::AddressAndPortDependent;
  r.allocation = analyze_port_allocation(samples({{0, 30010}, {0, 30200}, {1, 30099}, {2, 30001}, {3, 30150}}));
  ASSERT_TRUE(r.allocation.narrow);
  // 5 ports spanning 30001–30200 (199): margin ⌈199/4⌉ = 50 on each side.
  auto b = registered_behavior(r);
  EXPECT_EQ(b.pool_lo, 29951);
  EXPECT_EQ(b.pool_hi, 30250);
  EXPECT_EQ(short_name(b), "symmetric-random-narrow");
  // A wide spread is no pool at all.
  r.allocation = analyze_port_allocation(samples({{0, 3010}, {0, 30200}, {1, 30099}, {2, 60001}}));
  EXPECT_EQ(registered_behavior(r).pool_hi, 0);
}

TEST(PortAllocation, TooFewMappingsAreUnknown) {
  EXPECT_EQ(analyze_port_allocation(samples({{0, 40000}, {1, 40001}})).allocation, Allocation::Unknown);
  EXPECT_EQ(analyze_port_allocation({}).allocation, Allocation::Unknown);
}

}  // namespace
}  // namespace natpunch
