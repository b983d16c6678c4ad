// RFC 5780 NAT behaviour discovery as a no-I/O DatagramMachine (STYLE.md example 1): told the time
// and the datagrams that arrive, it answers with STUN Binding requests to send and its next
// deadline. The same object runs over real sockets (io/machine_loop.h) and a virtual clock.
//
// Sockets (the driver opens them; their inside ports come in the config):
//   0     the main socket: mapping tests I, II, III (§4.3) toward the primary, the alternate IP with
//         the primary port, and the alternate IP and port (OTHER-ADDRESS); and one more toward the
//         primary IP with the alternate port. A NAT drawing random ports from a small pool gives two
//         destinations the same port now and then (1 in 256 on the lab's narrow type), which the
//         RFC's single comparison (II == I) reads as endpoint-independent; four destinations make
//         that chance negligible.
//   1     the filtering socket: one plain Binding to the primary, and CHANGE-REQUESTs (change IP and
//         port: §4.4 test II; change port: test III) also to the primary. It never talks to the
//         alternate address itself, so a response from there passes the NAT only if its filter lets
//         it (socket 0's test III would have opened exactly that hole).
//   2..n  one Binding each to the primary: more mappings for the allocation pattern.
//
// Timeline: test I alone (is there a server, has it an alternate: OTHER-ADDRESS); then every other
// transaction at once, each retransmitted (doubling from the RTO) within one bounded window. Flows
// are created in a fixed order (II, III, other port, filtering, allocation sockets), which is the order a
// sequential NAT numbers them. Worst case on a lossless path: one RTT + the window.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nat/port_allocation.h"
#include "wire/datagram_machine.h"
#include "wire/message.h"
#include "wire/nat_behavior.h"
#include "wire/random_source.h"

namespace natpunch {

// Sockets NatDiscovery uses by default: main, filtering, and four for allocation samples.
inline constexpr std::size_t kNatDiscoverySockets = 6;

struct NatDiscoveryConfig {
  SocketAddress server;  // the primary address: test I
  // This host's own addresses with socket 0's port: a mapped address equal to one is "no NAT".
  std::vector<SocketAddress> local_addresses;
  // Inside port of each socket, by index; its size is sockets_wanted() (at least 2: main, filtering).
  std::vector<std::uint16_t> local_ports;
  std::chrono::milliseconds rto{100};              // first retransmission; the interval doubles (RFC 8489 §6.2.1)
  std::chrono::milliseconds server_timeout{3000};  // test I: the server answers within this or never
  // The other tests: a response arrives within this window (stretched to 4 RTTs of test I, at most
  // 3 windows) or not.
  std::chrono::milliseconds window{1000};
  AllocationLimits allocation;
  RandomSource random;  // transaction IDs (unset: system_random()); tests inject a seeded one
};

enum class DiscoveryError {
  None,
  NoAnswer,            // the server never answered test I
  NoAlternateAddress,  // it answered without OTHER-ADDRESS: no RFC 5780 support
  Rejected,            // it answered test I with an error response
};
std::string_view to_string(DiscoveryError e);

// How one filtering probe ended.
enum class ProbeOutcome { Pending, Answered, NoAnswer, WrongSource, Rejected };
std::string_view to_string(ProbeOutcome o);

struct NatDiscoveryResult {
  DiscoveryError error = DiscoveryError::None;
  std::string message;  // for a person, when error != None
  NatBehavior behavior;
  PortAllocationProfile allocation;
  SocketAddress mapped;                        // test I's mapped address
  std::optional<SocketAddress> other_address;  // the server's OTHER-ADDRESS
  std::optional<SocketAddress> response_origin;
  std::optional<SocketAddress> mapped_alternate_ip;         // test II
  std::optional<SocketAddress> mapped_alternate_both;       // test III
  std::optional<SocketAddress> mapped_alternate_port;       // primary IP, alternate port
  ProbeOutcome change_ip_and_port = ProbeOutcome::Pending;  // filtering test II
  ProbeOutcome change_port = ProbeOutcome::Pending;         // filtering test III
  std::chrono::milliseconds rtt{0};                         // test I (from its first request: an upper bound)
  std::chrono::milliseconds elapsed{0};                     // start → finished
  std::uint32_t requests_sent = 0;
  std::uint32_t responses = 0;
  std::uint32_t ignored = 0;  // datagrams that matched no transaction or did not parse

  bool ok() const { return error == DiscoveryError::None; }
};

// The lab's name for a discovered behaviour: short_name(), refined with what NatBehavior does not
// carry — a symmetric NAT that picks random ports from a narrow pool is "symmetric-random-narrow".
std::string_view type_name(const NatDiscoveryResult& r);

// What a device registers after discovery: the behaviour, plus — when the translated ports fell in
// a narrow pool — an estimate of that pool. k ports drawn from an unknown range span on average
// (k−1)/(k+1) of it, so the seen span is widened by span/(k−1) on each side (the German-tank
// estimate of the range), clipped to the port space. Not for a sequential NAT (consecutive samples).
NatBehavior registered_behavior(const NatDiscoveryResult& r);

class NatDiscovery final : public DatagramMachine {
 public:
  explicit NatDiscovery(NatDiscoveryConfig config);

  std::size_t sockets_wanted() const override { return config_.local_ports.size(); }
  std::vector<OutDatagram> start(TimePoint now) override;
  std::vector<OutDatagram> on_datagram(const InDatagram& d, TimePoint now) override;
  std::vector<OutDatagram> on_timer(TimePoint now) override;
  std::optional<TimePoint> next_deadline() const override;
  bool finished() const override { return done_; }

  // Complete once finished().
  const NatDiscoveryResult& result() const { return result_; }

 private:
  enum class Probe {
    MappingI,
    MappingII,
    MappingIII,
    MappingOtherPort,
    FilterControl,
    FilterChangeBoth,
    FilterChangePort,
    Allocation
  };

  struct Transaction {
    Probe probe = Probe::MappingI;
    std::size_t socket = 0;
    SocketAddress to;
    TransactionId id{};
    Bytes request;
    TimePoint first_send{};
    std::vector<std::chrono::milliseconds> sends;  // offsets from first_send
    std::size_t sent = 0;
    TimePoint give_up{};
    TimePoint last_send{};
    ProbeOutcome outcome = ProbeOutcome::Pending;
    std::optional<SocketAddress> mapped;
    int flow = 0;  // creation order of the (socket, destination) flow
  };

  void add(Probe probe, std::size_t socket, const SocketAddress& to, std::uint32_t change_flags, TimePoint now,
           std::chrono::milliseconds rto, std::chrono::milliseconds limit, std::vector<OutDatagram>& out);
  void send_due(Transaction& t, TimePoint now, std::vector<OutDatagram>& out);
  void on_answer(Transaction& t, const MessageView& m, const InDatagram& d, TimePoint now,
                 std::vector<OutDatagram>& out);
  void begin_tests(TimePoint now, std::vector<OutDatagram>& out);
  Transaction* find(Probe probe);
  bool resolved(Probe probe);
  void finish_if_decided(TimePoint now);
  void finish(TimePoint now);
  void fail(DiscoveryError e, std::string message, TimePoint now);

  NatDiscoveryConfig config_;
  std::deque<Transaction> transactions_;                      // stable references while tests are added
  std::vector<std::pair<std::size_t, SocketAddress>> flows_;  // in creation order
  NatDiscoveryResult result_;
  TimePoint started_{};
  bool done_ = false;
};

}  // namespace natpunch
