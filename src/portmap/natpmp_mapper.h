// Keeps one UDP mapping on the gateway with NAT-PMP (RFC 6886) as a no-I/O engine: told the time
// and the gateway's answers, it answers with datagrams for the gateway (port 5351) and its next
// deadline. It asks for the external address (§3.2), then for the mapping (§3.3), each retransmitted
// at 250 ms, doubling (§3.1), up to a bounded number of sends; renews the mapping at half its
// lifetime (§3.3) and deletes it (lifetime 0, §3.4) on close. With `lifetime_s` 0 it only deletes
// the mapping of `internal_port` (made earlier, perhaps by another process) and waits for the answer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "portmap/natpmp_message.h"
#include "wire/clock.h"

namespace natpunch {

struct NatPmpMapperConfig {
  SocketAddress gateway;  // the gateway's port 5351: named in error messages only
  std::uint16_t internal_port = 0;
  std::uint16_t suggested_external = 0;  // §3.3 suggested external port; 0: no preference
  std::uint32_t lifetime_s = 7200;       // 0: delete the mapping of internal_port (§3.4)
  // Sends at 0, 250, 750, 1750 ms … (doubling, §3.1) up to `max_sends` per request; then no NAT-PMP
  // server. §3.1 gives up after the ninth send and 64 s more; a caller with its own timeout sets more.
  std::chrono::milliseconds first_retry{250};
  int max_sends = 9;
};

class NatPmpMapper {
 public:
  // AskingAddress, AskingMapping, Deleting: a request is out (requesting()). Failed: the gateway
  // answered with no external address, or a mapping with no port or no lifetime.
  enum class State { Idle, AskingAddress, AskingMapping, Deleting, Mapped, NoServer, Refused, Failed, Closed };

  explicit NatPmpMapper(NatPmpMapperConfig config) : config_(config) {}

  std::vector<Bytes> start(TimePoint now);
  std::vector<Bytes> on_datagram(ByteView datagram, TimePoint now);  // from the gateway's port 5351
  std::vector<Bytes> on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  std::vector<Bytes> close(TimePoint now);  // delete the mapping (lifetime 0), once

  State state() const { return state_; }
  bool requesting() const;
  // The external address with the mapped port, once mapped.
  const std::optional<SocketAddress>& external() const { return external_; }
  std::uint32_t lifetime_s() const { return lifetime_s_; }
  const std::string& error() const { return error_; }
  int renewals() const { return renewals_; }
  // Datagrams that were not the answer to the request out (since it was first sent), and why the
  // last one was not.
  int ignored() const { return ignored_; }
  const std::string& last_ignored() const { return last_ignored_; }

 private:
  std::vector<Bytes> send_request(TimePoint now);
  std::vector<Bytes> begin(State requesting, TimePoint now);
  Bytes request() const;
  void ignore(std::string reason);
  void give_up(State s, std::string error);

  NatPmpMapperConfig config_;
  State state_ = State::Idle;
  std::string error_;
  std::optional<SocketAddress> address_;  // §3.2's answer, port 0
  std::optional<SocketAddress> external_;
  std::uint32_t lifetime_s_ = 0;
  TimePoint sent_first_{};
  int sends_ = 0;
  TimePoint next_send_{};
  TimePoint renew_at_{};
  int renewals_ = 0;
  int ignored_ = 0;
  std::string last_ignored_;
};

std::string_view to_string(NatPmpMapper::State s);

}  // namespace natpunch
