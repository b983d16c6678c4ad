// RFC 8489 §6.2.1 retransmission schedule for requests over UDP: sends at 0, RTO, 3·RTO, 7·RTO, …
// (the interval doubles) up to Rc sends; after the last, wait Rm·RTO before giving up. An overall
// deadline cuts the schedule short. Pure arithmetic: no clock, no sockets.
#pragma once

#include <chrono>
#include <vector>

namespace natpunch {

struct RetransmitPolicy {
  std::chrono::milliseconds rto{500};  // RFC 8489: initial RTO SHOULD be 500 ms (if no RTT known)
  int max_sends = 7;                   // Rc
  int last_wait_factor = 16;           // Rm
  std::chrono::milliseconds deadline{39500};
};

struct RetransmitPlan {
  std::vector<std::chrono::milliseconds> sends;  // offsets from the first send; sends[0] == 0
  std::chrono::milliseconds give_up{0};          // offset at which the transaction has failed
};

RetransmitPlan plan_retransmissions(const RetransmitPolicy& p);

}  // namespace natpunch
