// Which address of one rendezvous service to use (docs/cli.md, `--server`): a name may resolve to
// several addresses, A and AAAA records, the families of one service. Before the device starts, a
// STUN Binding (padded, as natpunch's server requires of an unproven source) goes to the first
// address, then to the next one every `stagger` (RFC 8305's idea: a dead or unreachable family
// costs a quarter second, not the whole run), each re-sent every
// `retransmit`; the first address whose success answer arrives (its transaction, from that address)
// is chosen. With no answer by `limit`, the first address is kept: the device then reports the
// unreachable server itself, as it would with one address.
//
// No I/O: told the time and the datagrams; answers the datagrams to send (to candidate k) and its
// next deadline. A single candidate is chosen at once, without a packet.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/clock.h"
#include "wire/random_source.h"
#include "wire/message.h"

namespace natpunch {

class ServiceSelector {
 public:
  struct Timing {
    std::chrono::milliseconds stagger{250};
    std::chrono::milliseconds retransmit{500};
    std::chrono::milliseconds limit{2000};
  };
  struct Out {
    std::size_t candidate = 0;
    Bytes bytes;
  };
  // At most this many addresses are tried (the resolver's first ones).
  static constexpr std::size_t kMaxCandidates = 8;

  ServiceSelector(std::vector<SocketAddress> candidates, TimePoint now, RandomSource random, Timing timing);
  ServiceSelector(std::vector<SocketAddress> candidates, TimePoint now, RandomSource random)
      : ServiceSelector(std::move(candidates), now, std::move(random), Timing{}) {}

  // A datagram from `from`: a Binding success of the transaction sent to that candidate chooses it.
  void on_datagram(const SocketAddress& from, ByteView bytes, TimePoint now);
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  std::vector<Out> take_datagrams();

  bool done() const { return chosen_.has_value(); }
  // The candidate chosen (once done()); `answered` is false when none answered by the limit.
  std::size_t chosen() const { return chosen_.value_or(0); }
  bool answered() const { return answered_; }
  const std::vector<SocketAddress>& candidates() const { return candidates_; }

 private:
  void step(TimePoint now);

  std::vector<SocketAddress> candidates_;
  std::vector<TransactionId> txids_;
  std::vector<std::optional<TimePoint>> next_send_;  // per candidate; unset: not started yet
  TimePoint started_;
  Timing timing_;
  std::optional<std::size_t> chosen_;
  bool answered_ = false;
  std::vector<Out> out_;
};

}  // namespace natpunch
