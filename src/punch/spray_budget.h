// How often an agent answers one peer: at most N connect attempts (each a spray of probes) per peer
// in any 60-second window, so an allowed but misbehaving (or replaying) peer cannot turn the agent
// into a packet source. Told the time; reads no clock. Bounded in the number of peers it remembers.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>

#include "wire/clock.h"

namespace natpunch {

class SprayBudget {
 public:
  static constexpr std::chrono::seconds kWindow{60};

  explicit SprayBudget(int per_minute, std::size_t max_peers = 1024) : per_minute_(per_minute), max_peers_(max_peers) {}

  // True, and counted, when `peer` may get another attempt at `now`; false when its budget for the
  // last minute is spent.
  bool take(const std::string& peer, TimePoint now);
  std::size_t peers() const { return used_.size(); }

 private:
  void forget_idle(TimePoint now);

  int per_minute_;
  std::size_t max_peers_;
  std::unordered_map<std::string, std::deque<TimePoint>> used_;  // per peer: its attempts, oldest first
};

}  // namespace natpunch
