// The traversal methods natpunch tries, cheapest first, and the knobs they share.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace natpunch {

enum class Method : std::uint8_t {
  Direct,               // the peer's public or LAN address answers without punching
  PortMapped,           // a side's router mapped a port for it (UPnP-IGD, NAT-PMP, PCP): the other sends there
  Simultaneous,         // both send to each other's mapping (cone ↔ cone, or a permissive cone)
  BirthdayListenFirst,  // JP7401564B2: the symmetric side opens N sockets, the cone side sprays M ports
  BirthdaySprayFirst,   // CN104660728A: the cone side sprays M ports, then the symmetric side sends from N
};

std::string_view to_string(Method m);
std::optional<Method> parse_method(std::string_view s);

// In a birthday step, which half of the method this side plays.
enum class BirthdayRole : std::uint8_t { None, Sprayer, Listener };

struct PunchTuning {
  int ports = 256;                // N: sockets the symmetric side opens
  int probes = 2048;              // M: ports of the symmetric side the cone side probes
  std::uint16_t port_lo = 1024;   // the range the cone side probes
  std::uint16_t port_hi = 65535;
  double rate_pps = 50;           // pacing of new flows (0 = unpaced): RFC 5245 App. B.1, docs/architecture.md
  std::chrono::milliseconds probe_interval{100};  // direct/simultaneous re-probe period
  std::chrono::milliseconds direct_budget{1500};
  std::chrono::milliseconds simultaneous_budget{2500};
  std::chrono::milliseconds birthday_slack{3000};  // on top of the paced send time
};

}  // namespace natpunch
