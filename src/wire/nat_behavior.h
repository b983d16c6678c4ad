// A NAT's behaviour in RFC 4787's terms, as discovered by RFC 5780 tests, plus the port
// allocation pattern natpunch needs for port prediction.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/parse_error.h"
#include "wire/result.h"

namespace natpunch {

// Mapping (RFC 4787 §4.1) and filtering (§5) behaviours share the same three values.
enum class Dependence : std::uint8_t {
  Unknown = 0,
  EndpointIndependent = 1,
  AddressDependent = 2,
  AddressAndPortDependent = 3,
};

enum class Allocation : std::uint8_t {
  Unknown = 0,
  Preserved = 1,   // public port == local port
  Sequential = 2,  // each new mapping = previous + port_delta (small, constant)
  Random = 3,
};

struct NatBehavior {
  bool behind_nat = true;  // false when the mapped address equals a local address
  Dependence mapping = Dependence::Unknown;
  Dependence filtering = Dependence::Unknown;
  bool port_preserved = false;
  Allocation allocation = Allocation::Unknown;
  std::int16_t port_delta = 0;  // for Sequential
  // The span of public ports seen when they fall in a small pool (e.g. a carrier-grade NAT's
  // port block); 0/0 when unknown or wide. Lets the other side probe inside the pool first.
  std::uint16_t pool_lo = 0;
  std::uint16_t pool_hi = 0;

  bool operator==(const NatBehavior&) const = default;
  // Endpoint-independent mapping: one public port per inside socket (a "cone").
  bool is_cone() const { return !behind_nat || mapping == Dependence::EndpointIndependent; }
  bool is_symmetric() const { return behind_nat && (mapping == Dependence::AddressDependent ||
                                                    mapping == Dependence::AddressAndPortDependent); }
  bool known() const { return !behind_nat || mapping != Dependence::Unknown; }
};

std::string_view to_string(Dependence d);        // "endpoint-independent" | "address-dependent" | ...
std::string_view to_string(Allocation a);        // "preserved" | "sequential" | "random" | "unknown"
std::string_view short_name(const NatBehavior&);  // "open", "full-cone", "restricted-cone", ...

// NP-NAT-BEHAVIOR attribute value (8 bytes, or 12 with the port pool):
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    Mapping    |   Filtering   |  Allocation   |     Flags     |  flags: 1 behind NAT,
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+         2 port preserved
//  |        Port delta (int16)     |           Reserved            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Pool low port          |        Pool high port         |  (optional)
Bytes encode_nat_behavior(const NatBehavior& b);
Result<NatBehavior, ParseError> decode_nat_behavior(ByteView value);

}  // namespace natpunch
