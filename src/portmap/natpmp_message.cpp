#include "portmap/natpmp_message.h"

namespace natpunch::natpmp {

std::string_view describe(ResultCode code) {
  switch (code) {
    case ResultCode::Success: return "success";
    case ResultCode::UnsupportedVersion: return "unsupported version";
    case ResultCode::NotAuthorized: return "not authorized / refused (port mapping disabled on the gateway?)";
    case ResultCode::NetworkFailure: return "network failure (the gateway has no usable external address)";
    case ResultCode::OutOfResources: return "out of resources (no mapping to spare)";
    case ResultCode::UnsupportedOpcode: return "unsupported opcode";
  }
  return "unknown result code";
}

std::string_view to_string(NatPmpError e) {
  switch (e) {
    case NatPmpError::Truncated: return "truncated NAT-PMP answer";
    case NatPmpError::Oversize: return "NAT-PMP answer over 1100 bytes";
    case NatPmpError::WrongVersion: return "not a NAT-PMP (version 0) answer";
    case NatPmpError::NotAResponse: return "NAT-PMP request where an answer was expected";
    case NatPmpError::UnknownOpcode: return "NAT-PMP answer to an opcode natpunch does not send";
  }
  return "NAT-PMP error";
}

Bytes encode_external_address_request() { return {std::byte{kVersion}, std::byte{kOpExternalAddress}}; }

Bytes encode_map_request(std::uint16_t internal_port, std::uint16_t suggested_external, std::uint32_t lifetime_s) {
  Bytes out;
  out.reserve(12);
  ByteWriter w(out);
  w.u8(kVersion);
  w.u8(kOpMapUdp);
  w.u16(0);  // §3.3: reserved, MUST be zero
  w.u16(internal_port);
  w.u16(suggested_external);
  w.u32(lifetime_s);
  return out;
}

Result<Response, NatPmpError> parse_response(ByteView d) {
  if (d.size() > kMaxMessage) return fail(NatPmpError::Oversize);
  ByteReader r(d);
  auto version = r.u8();
  auto op = r.u8();
  auto result = r.u16();
  auto epoch = r.u32();
  if (!version || !op) return fail(NatPmpError::Truncated);
  if (*version != kVersion) return fail(NatPmpError::WrongVersion);
  if ((*op & kResponseBit) == 0) return fail(NatPmpError::NotAResponse);
  if (*op != (kResponseBit | kOpExternalAddress) && *op != (kResponseBit | kOpMapUdp)) {
    return fail(NatPmpError::UnknownOpcode);
  }
  // §3.5: every answer carries the result code and the epoch; an error answer may stop there.
  if (!result || !epoch) return fail(NatPmpError::Truncated);
  Response m;
  m.opcode = *op;
  m.result = static_cast<ResultCode>(*result);
  m.epoch_s = *epoch;
  if (m.result != ResultCode::Success) return m;
  if (*op == (kResponseBit | kOpExternalAddress)) {
    auto a = r.take(4);
    if (!a) return fail(NatPmpError::Truncated);
    m.external_address = SocketAddress::v4({static_cast<std::uint8_t>((*a)[0]), static_cast<std::uint8_t>((*a)[1]),
                                            static_cast<std::uint8_t>((*a)[2]), static_cast<std::uint8_t>((*a)[3])},
                                           0);
    return m;
  }
  auto internal = r.u16();
  auto external = r.u16();
  auto lifetime = r.u32();
  if (!internal || !external || !lifetime) return fail(NatPmpError::Truncated);
  m.internal_port = *internal;
  m.external_port = *external;
  m.lifetime_s = *lifetime;
  return m;
}

bool answers(const Response& r, std::uint8_t request_opcode, std::uint16_t internal_port) {
  if (r.opcode != (kResponseBit | request_opcode)) return false;
  // An error answer to a mapping request may be cut after the epoch: its port is then unknown.
  if (request_opcode == kOpMapUdp && r.result == ResultCode::Success) return r.internal_port == internal_port;
  return true;
}

}  // namespace natpunch::natpmp
