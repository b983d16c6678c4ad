// When a device registers again, and what a registration's answer means for it (no I/O, told the
// time): the refresh period (a third of the lifetime the server granted, at least a second), the
// outage (from the first failed refresh to the next success), and a changed public mapping (the
// NAT, or the network, changed: its behaviour must be learnt again). And the router's port mapping
// beside it: renewed at half its lifetime, registered only on the public IP the server sees.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "wire/address.h"
#include "wire/clock.h"

namespace natpunch {

// What one registration's answer changed.
struct RegistrationChange {
  bool first = false;                                  // the device's first registration
  std::optional<SocketAddress> previous_mapping;       // set when the public mapping changed
  std::optional<std::chrono::milliseconds> back_after; // set when it ended an outage
};

class RegistrationState {
 public:
  explicit RegistrationState(std::chrono::milliseconds min_interval = std::chrono::milliseconds(1000))
      : min_interval_(min_interval) {}

  // The server answered a registration started at `started` with `mapped` and a lifetime.
  RegistrationChange on_registered(TimePoint now, const SocketAddress& mapped, std::chrono::seconds lifetime);
  // A registration started at `started` failed. After a timeout (which took up to an interval) the
  // next one goes at once; after a refusal, one interval later (never a tight loop at the server).
  void on_failed(TimePoint started, TimePoint now, bool timed_out);
  // A reason to register again before the period ends (a port mapping appeared or changed).
  void refresh_soon(TimePoint now) { refresh_at_ = now; }

  bool registered() const { return registered_; }
  const SocketAddress& mapped() const { return mapped_; }
  std::chrono::seconds lifetime() const { return lifetime_; }
  // The refresh period: a third of the lifetime, at least min_interval (before the first
  // registration: min_interval).
  std::chrono::milliseconds interval() const;
  TimePoint refresh_at() const { return refresh_at_; }
  std::optional<TimePoint> unreachable_since() const { return unreachable_since_; }

 private:
  std::chrono::milliseconds min_interval_;
  bool registered_ = false;
  SocketAddress mapped_;
  std::chrono::seconds lifetime_{0};
  TimePoint refresh_at_{};
  std::optional<TimePoint> unreachable_since_;
};

// The router's mapping of the main socket (UPnP-IGD, NAT-PMP or PCP), as io reports it.
struct MappedPort {
  std::string protocol;  // "pcp", "nat-pmp", "upnp-igd"
  SocketAddress external;
  std::chrono::seconds lifetime{0};
};

class PortMappingState {
 public:
  void on_mapped(MappedPort m, TimePoint now);
  // The mapping attempt or its renewal failed: no mapping (the next registration withdraws it).
  void on_failed(std::string note);
  void note(std::string text) { note_ = std::move(text); }

  const std::optional<MappedPort>& mapping() const { return mapping_; }
  const std::string& note() const { return note_; }
  bool renewal_due(TimePoint now) const { return mapping_ && now >= renew_at_; }
  std::optional<TimePoint> renew_at() const {
    return mapping_ ? std::optional<TimePoint>(renew_at_) : std::nullopt;
  }
  // What the registration announces (NP-PORT-MAPPED) given the public mapping the server saw
  // (unspecified before the first answer): the external address when it is on that IP. A mapping on
  // another IP sits behind a further NAT (carrier-grade NAT) and does not reach the internet.
  std::optional<SocketAddress> advertised(const SocketAddress& mapped) const;

 private:
  std::optional<MappedPort> mapping_;
  std::string note_;  // why there is none, or why it is not registered
  TimePoint renew_at_{};
};

}  // namespace natpunch
