#include "portmap/pcp_message.h"

#include <algorithm>

namespace natpunch::pcp {

namespace {

constexpr std::size_t kHeaderSize = 24;
constexpr std::size_t kMapDataSize = 36;

// §5: an IPv4 address travels as the IPv4-mapped IPv6 address ::ffff:a.b.c.d.
void put_address(ByteWriter& w, const SocketAddress& a) {
  if (a.family == Family::V4) {
    w.zeros(10);
    w.u8(0xff);
    w.u8(0xff);
    w.bytes(ByteView(reinterpret_cast<const std::byte*>(a.ip.data()), 4));
  } else {
    w.bytes(ByteView(reinterpret_cast<const std::byte*>(a.ip.data()), 16));
  }
}

SocketAddress read_address(ByteView sixteen, std::uint16_t port) {
  std::array<std::uint8_t, 16> ip{};
  for (std::size_t i = 0; i < 16; ++i) ip[i] = static_cast<std::uint8_t>(sixteen[i]);
  bool mapped_v4 = std::all_of(ip.begin(), ip.begin() + 10, [](auto b) { return b == 0; }) && ip[10] == 0xff &&
                   ip[11] == 0xff;
  if (mapped_v4) return SocketAddress::v4({ip[12], ip[13], ip[14], ip[15]}, port);
  return SocketAddress::v6(ip, port);
}

}  // namespace

std::string_view describe(ResultCode code) {
  switch (code) {
    case ResultCode::Success: return "SUCCESS";
    case ResultCode::UnsuppVersion: return "UNSUPP_VERSION: the gateway does not speak PCP version 2";
    case ResultCode::NotAuthorized: return "NOT_AUTHORIZED: the gateway refuses mappings for this host";
    case ResultCode::MalformedRequest: return "MALFORMED_REQUEST: the gateway could not parse the request";
    case ResultCode::UnsuppOpcode: return "UNSUPP_OPCODE: the gateway does not do MAP";
    case ResultCode::UnsuppOption: return "UNSUPP_OPTION";
    case ResultCode::MalformedOption: return "MALFORMED_OPTION";
    case ResultCode::NetworkFailure: return "NETWORK_FAILURE: the gateway has no external address yet";
    case ResultCode::NoResources: return "NO_RESOURCES: the gateway has no mapping to spare";
    case ResultCode::UnsuppProtocol: return "UNSUPP_PROTOCOL";
    case ResultCode::UserExQuota: return "USER_EX_QUOTA: this host has used up its mappings";
    case ResultCode::CannotProvideExternal: return "CANNOT_PROVIDE_EXTERNAL: the suggested port is taken";
    case ResultCode::AddressMismatch:
      return "ADDRESS_MISMATCH: the gateway sees another source address (a NAT between us and it)";
    case ResultCode::ExcessiveRemotePeers: return "EXCESSIVE_REMOTE_PEERS";
  }
  return "unknown PCP result code";
}

std::string_view to_string(PcpError e) {
  switch (e) {
    case PcpError::Truncated: return "truncated PCP message";
    case PcpError::Oversize: return "PCP message over 1100 bytes";
    case PcpError::NotMultipleOf4: return "PCP message length not a multiple of 4";
    case PcpError::NotAResponse: return "PCP request where a response was expected";
    case PcpError::WrongOpcode: return "PCP response to another opcode than MAP";
    case PcpError::BadOption: return "malformed or unknown mandatory PCP option";
    case PcpError::OldVersion: return "the gateway answered with NAT-PMP (version 0)";
    case PcpError::UnknownVersion: return "unknown PCP version";
  }
  return "PCP error";
}

Bytes encode_map_request(const MapRequest& r) {
  Bytes out;
  out.reserve(kMapMessageSize);
  ByteWriter w(out);
  w.u8(kVersion);
  w.u8(kOpMap);  // R = 0: a request
  w.u16(0);
  w.u32(r.lifetime_s);
  put_address(w, r.client);
  w.bytes(r.nonce);
  w.u8(r.protocol);
  w.zeros(3);
  w.u16(r.internal_port);
  SocketAddress suggested = r.suggested_external.value_or(SocketAddress{});
  w.u16(r.suggested_external ? suggested.port : 0);
  if (r.suggested_external && !suggested.is_unspecified()) {
    put_address(w, suggested);
  } else {
    // §11.1: no preference is the all-zero address of the family (::ffff:0.0.0.0 for IPv4).
    SocketAddress none;
    none.family = r.client.family;
    put_address(w, none);
  }
  return out;
}

Result<MapResponse, PcpError> parse_map_response(ByteView d) {
  if (d.size() > kMaxMessage) return fail(PcpError::Oversize);
  ByteReader r(d);
  auto version = r.u8();
  auto op = r.u8();
  if (!version || !op) return fail(PcpError::Truncated);
  // §9: a NAT-PMP server answers a PCP request with version 0 and "unsupported version".
  if (*version == 0) return fail(PcpError::OldVersion);
  if (*version != kVersion) return fail(PcpError::UnknownVersion);
  if (d.size() < kHeaderSize) return fail(PcpError::Truncated);
  if (d.size() % 4 != 0) return fail(PcpError::NotMultipleOf4);
  if ((*op & 0x80) == 0) return fail(PcpError::NotAResponse);
  if ((*op & 0x7f) != kOpMap) return fail(PcpError::WrongOpcode);
  MapResponse m;
  m.version = *version;
  r.u8();  // reserved
  m.result = static_cast<ResultCode>(*r.u8());
  m.lifetime_s = *r.u32();
  m.epoch_s = *r.u32();
  r.take(12);  // reserved
  // §7.2: an error response may stop after the opcode data; a MAP response that lacks it carries no
  // mapping we could match, so it is truncated for us.
  auto data = r.take(kMapDataSize);
  if (!data) return fail(PcpError::Truncated);
  ByteReader md(*data);
  auto nonce = md.take(12);
  std::copy(nonce->begin(), nonce->end(), m.nonce.begin());
  m.protocol = *md.u8();
  md.take(3);
  m.internal_port = *md.u16();
  auto port = *md.u16();
  m.external = read_address(*md.take(16), port);
  // §7.3 options: code, reserved, length, data padded to 4. Codes 0–127 must be understood; MAP
  // defines none natpunch sends, so any mandatory option in the answer is one we cannot honour.
  while (!r.empty()) {
    auto code = r.u8();
    r.u8();
    auto len = r.u16();
    if (!code || !len) return fail(PcpError::BadOption);
    std::size_t padded = (static_cast<std::size_t>(*len) + 3) & ~std::size_t{3};
    if (!r.take(padded)) return fail(PcpError::BadOption);
    if (*code < 128) return fail(PcpError::BadOption);
  }
  return m;
}

bool matches(const MapResponse& response, const MapRequest& request) {
  return response.nonce == request.nonce && response.protocol == request.protocol &&
         response.internal_port == request.internal_port;
}

}  // namespace natpunch::pcp
