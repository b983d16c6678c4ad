// Keeps one UDP mapping on the gateway with PCP (RFC 6887 MAP) as a no-I/O engine: told the time
// and the gateway's answers, it answers with datagrams for the gateway (port 5351) and its next
// deadline. It asks for the mapping (retransmitting on a bounded schedule), renews it at half its
// lifetime (§11.2.1), renews at once when the gateway's epoch shows it lost its state (§8.5), and
// deletes it (lifetime 0) on close. A version-0 answer means the gateway speaks only NAT-PMP.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "portmap/pcp_message.h"
#include "wire/clock.h"

namespace natpunch {

struct PcpMapperConfig {
  SocketAddress client;          // our LAN address (as the gateway sees it)
  std::uint16_t internal_port = 0;
  std::uint32_t lifetime_s = 7200;
  pcp::Nonce nonce{};            // random, kept for renewals
  // The external port (and address) to ask for before one is assigned (§11.1 "suggested"):
  // a renewal from another process, or a caller's preference. Unset: no preference.
  std::optional<SocketAddress> suggested_external;
  // Sends at 0, 250, 750, 1750 ms … (doubling) up to `max_sends`; then no PCP server.
  std::chrono::milliseconds first_retry{250};
  int max_sends = 4;
};

class PcpMapper {
 public:
  enum class State { Idle, Requesting, Mapped, NoServer, NatPmpOnly, Refused, Closed };

  explicit PcpMapper(PcpMapperConfig config) : config_(config) {}

  std::vector<Bytes> start(TimePoint now);
  std::vector<Bytes> on_datagram(ByteView datagram, TimePoint now);  // from the gateway's port 5351
  std::vector<Bytes> on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  std::vector<Bytes> close(TimePoint now);  // delete the mapping (lifetime 0), once

  State state() const { return state_; }
  const std::optional<SocketAddress>& external() const { return external_; }
  std::uint32_t lifetime_s() const { return lifetime_s_; }
  const std::string& error() const { return error_; }
  int renewals() const { return renewals_; }

 private:
  std::vector<Bytes> send_request(TimePoint now);
  pcp::MapRequest request(std::uint32_t lifetime) const;

  PcpMapperConfig config_;
  State state_ = State::Idle;
  std::string error_;
  std::optional<SocketAddress> external_;
  std::uint32_t lifetime_s_ = 0;
  std::optional<std::uint32_t> epoch_;
  TimePoint epoch_at_{};
  TimePoint sent_first_{};
  int sends_ = 0;
  TimePoint next_send_{};
  TimePoint renew_at_{};
  int renewals_ = 0;
};

std::string_view to_string(PcpMapper::State s);

}  // namespace natpunch
