// Sources (IP and port) that proved they receive at their address by quoting a valid server nonce
// (server/nonce.h). Only these get replies larger than their requests, and only these receive
// NP-PEER-INFO and NP-SIGNAL indications: the server never reflects more than it got toward an
// address that did not ask. Bounded and expiring: a proof lasts `lifetime` from the last one; when
// full, a new proof evicts an arbitrary entry (that source is then merely unproven again).
#pragma once

#include <unordered_map>

#include "wire/address.h"
#include "wire/clock.h"

namespace natpunch {

class ProvenSources {
 public:
  ProvenSources(std::size_t max_entries, std::chrono::seconds lifetime);

  void prove(const SocketAddress& source, TimePoint now);
  bool proven(const SocketAddress& source, TimePoint now) const;
  void expire(TimePoint now);
  std::size_t size() const { return until_.size(); }
  std::uint64_t evictions() const { return evictions_; }

 private:
  std::size_t max_entries_;
  std::chrono::seconds lifetime_;
  std::unordered_map<SocketAddress, TimePoint, SocketAddressHash> until_;
  std::uint64_t evictions_ = 0;
};

}  // namespace natpunch
