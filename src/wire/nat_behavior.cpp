#include "wire/nat_behavior.h"

namespace natpunch {

std::string_view to_string(Dependence d) {
  switch (d) {
    case Dependence::Unknown: return "unknown";
    case Dependence::EndpointIndependent: return "endpoint-independent";
    case Dependence::AddressDependent: return "address-dependent";
    case Dependence::AddressAndPortDependent: return "address-and-port-dependent";
  }
  return "unknown";
}

std::string_view to_string(Allocation a) {
  switch (a) {
    case Allocation::Unknown: return "unknown";
    case Allocation::Preserved: return "preserved";
    case Allocation::Sequential: return "sequential";
    case Allocation::Random: return "random";
  }
  return "unknown";
}

std::string_view short_name(const NatBehavior& b) {
  if (!b.behind_nat) return "open";
  if (b.mapping == Dependence::EndpointIndependent) {
    switch (b.filtering) {
      case Dependence::EndpointIndependent: return "full-cone";
      case Dependence::AddressDependent: return "restricted-cone";
      case Dependence::AddressAndPortDependent:
        return b.port_preserved ? "port-restricted-cone" : "port-restricted-cone-random";
      case Dependence::Unknown: return "cone";
    }
  }
  if (b.mapping == Dependence::Unknown) return "unknown";
  if (b.allocation == Allocation::Sequential) return "symmetric-sequential";
  // The first flow kept the inside port, later flows got new ones (allocation itself is random).
  if (b.port_preserved || b.allocation == Allocation::Preserved) return "symmetric-preserve-first";
  return b.pool_hi != 0 ? "symmetric-random-narrow" : "symmetric-random";
}

Bytes encode_nat_behavior(const NatBehavior& b) {
  Bytes out;
  ByteWriter w(out);
  w.u8(static_cast<std::uint8_t>(b.mapping));
  w.u8(static_cast<std::uint8_t>(b.filtering));
  w.u8(static_cast<std::uint8_t>(b.allocation));
  w.u8(static_cast<std::uint8_t>((b.behind_nat ? 1 : 0) | (b.port_preserved ? 2 : 0)));
  w.u16(static_cast<std::uint16_t>(b.port_delta));
  w.u16(0);
  if (b.pool_lo != 0 || b.pool_hi != 0) {
    w.u16(b.pool_lo);
    w.u16(b.pool_hi);
  }
  return out;
}

Result<NatBehavior, ParseError> decode_nat_behavior(ByteView value) {
  if (value.size() != 8 && value.size() != 12) return fail(ParseError::BadAttributeValue);
  ByteReader r(value);
  auto mapping = *r.u8();
  auto filtering = *r.u8();
  auto allocation = *r.u8();
  auto flags = *r.u8();
  auto delta = *r.u16();
  r.u16();  // reserved
  if (mapping > 3 || filtering > 3 || allocation > 3 || flags > 3) return fail(ParseError::BadAttributeValue);
  NatBehavior b;
  b.mapping = static_cast<Dependence>(mapping);
  b.filtering = static_cast<Dependence>(filtering);
  b.allocation = static_cast<Allocation>(allocation);
  b.behind_nat = (flags & 1) != 0;
  b.port_preserved = (flags & 2) != 0;
  b.port_delta = static_cast<std::int16_t>(delta);
  if (value.size() == 12) {
    b.pool_lo = *r.u16();
    b.pool_hi = *r.u16();
    if (b.pool_lo > b.pool_hi) return fail(ParseError::BadAttributeValue);
  }
  return b;
}

}  // namespace natpunch
