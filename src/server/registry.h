// The rendezvous server's record of devices: ID → observed public mapping, local addresses,
// last-seen and expiry. Bounded in size, and in live entries per source IP (a NAT's public IP may
// carry many devices, one attacker's IP no more than the cap). Told the time; reads no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "wire/clock.h"
#include "wire/address.h"
#include "wire/control_messages.h"
#include "wire/device_id.h"
#include "wire/nat_behavior.h"

namespace natpunch {

struct Registration {
  DeviceId id;
  SocketAddress mapped;               // the source address the server observed
  std::vector<SocketAddress> locals;  // what the device reported
  std::uint8_t via_socket = 0;        // which server socket it talks to (replies go out there)
  std::optional<NatBehavior> nat;     // what the device reported about its NAT
  TimePoint last_seen{};
  TimePoint expires{};
  std::optional<AllowList> allow;     // who may connect (NP-ALLOW); absent: anyone (older devices)
  std::optional<std::string> nonce;   // the NONCE its signed registration quoted (echoed in peer-info)
  std::optional<SocketAddress> port_mapped;  // its router's mapping (NP-PORT-MAPPED), on `mapped`'s IP
};

enum class LookupStatus { Found, Expired, Unknown };

struct Lookup {
  LookupStatus status = LookupStatus::Unknown;
  const Registration* entry = nullptr;  // set when Found
};

class Registry {
 public:
  explicit Registry(std::size_t max_entries, std::size_t max_per_ip = SIZE_MAX)
      : max_entries_(max_entries), max_per_ip_(max_per_ip) {}

  enum class Upsert { Created, Refreshed, Moved, Full, IpCapReached };
  // Creates or refreshes the entry for `r.id` (keyed on the ID value; its kind is informational).
  // IpCapReached: a new entry, or one moving to another IP, would exceed that IP's cap.
  Upsert upsert(Registration r);
  // Expired entries are reported as Expired once and then removed.
  Lookup lookup(const std::string& id, TimePoint now);
  // The entry for `id` as it stands (expired or not), without removing anything; nullptr if none.
  const Registration* peek(const std::string& id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // Removes expired entries; returns how many.
  std::size_t sweep(TimePoint now);
  std::size_t size() const { return entries_.size(); }
  // Live entries whose mapping has `a`'s IP.
  std::size_t count_for_ip(const SocketAddress& a) const;

 private:
  void count(const SocketAddress& mapped, int delta);
  std::size_t max_entries_;
  std::size_t max_per_ip_;
  std::unordered_map<std::string, Registration> entries_;
  std::unordered_map<SocketAddress, std::size_t, SocketAddressHash> per_ip_;  // keyed by IP (port 0)
};

}  // namespace natpunch
