#include "wire/control_messages.h"

#include <cstring>

#include "wire/address_codec.h"
#include "wire/builder.h"

namespace natpunch {

namespace {
using stun::MessageClass;
namespace attr = stun::attr;

void add_addresses(MessageBuilder& b, std::uint16_t type, const std::vector<SocketAddress>& list) {
  for (std::size_t i = 0; i < list.size() && i < kMaxLocalAddresses; ++i) b.add_xor_address(type, list[i]);
}

Result<std::vector<SocketAddress>, ParseError> read_addresses(const MessageView& m, std::uint16_t type) {
  auto all = m.find_all(type);
  if (all.size() > kMaxLocalAddresses) return fail(ParseError::BadAttributeValue);
  std::vector<SocketAddress> out;
  for (const auto* a : all) {
    auto addr = decode_xor_address(a->value, m.transaction);
    if (!addr) return fail(addr.error());
    out.push_back(*addr);
  }
  return out;
}

Result<DeviceId, ParseError> read_id(const MessageView& m, std::uint16_t type) {
  const auto* a = m.find(type);
  if (!a) return fail(ParseError::MissingAttribute);
  return decode_device_id(a->value);
}

Result<std::uint32_t, ParseError> read_u32(const AttributeView& a) {
  if (a.value.size() != 4) return fail(ParseError::BadAttributeValue);
  ByteReader r(a.value);
  return *r.u32();
}

// An optional address attribute: absent is fine, present must be well-formed.
Result<std::optional<SocketAddress>, ParseError> optional_xor_address(const MessageView& m, std::uint16_t type) {
  const auto* a = m.find(type);
  if (!a) return std::optional<SocketAddress>{};
  auto addr = decode_xor_address(a->value, m.transaction);
  if (!addr) return fail(addr.error());
  return std::optional<SocketAddress>{*addr};
}

bool is(const MessageView& m, std::uint16_t method, MessageClass cls) {
  return m.method() == method && m.cls() == cls;
}
}  // namespace

Bytes encode_register_request(const RegisterRequest& r, const TransactionId& txid) {
  MessageBuilder b(stun::method::kRegister, MessageClass::Request, txid);
  b.add(attr::kDeviceId, encode_device_id(r.id));
  add_addresses(b, attr::kLocalAddress, r.locals);
  if (r.lifetime_s) b.add_u32(attr::kLifetime, *r.lifetime_s);
  if (r.nat) b.add(attr::kNatBehavior, encode_nat_behavior(*r.nat));
  if (r.allow) b.add(attr::kAllow, encode_allow_list(*r.allow));
  if (r.port_mapped) b.add_xor_address(attr::kPortMapped, *r.port_mapped);
  return std::move(b).finish();
}

Bytes encode_register_response(const RegisterResponse& r, const TransactionId& txid) {
  MessageBuilder b(stun::method::kRegister, MessageClass::Success, txid);
  b.add_xor_address(attr::kXorMappedAddress, r.mapped);
  b.add_u32(attr::kLifetime, r.lifetime_s);
  return std::move(b).finish();
}

Bytes encode_connect_request(const ConnectRequest& r, const TransactionId& txid) {
  MessageBuilder b(stun::method::kConnect, MessageClass::Request, txid);
  b.add(attr::kDeviceId, encode_device_id(r.self));
  b.add(attr::kPeerId, encode_device_id(r.peer));
  if (r.relayed) b.add_xor_address(attr::kRelayed, *r.relayed);
  return std::move(b).finish();
}

Bytes encode_peer_info(const PeerInfo& p, MessageClass cls, std::uint16_t method, const TransactionId& txid) {
  MessageBuilder b(method, cls, txid);
  b.add(attr::kPeerId, encode_device_id(p.peer));
  b.add_xor_address(attr::kPeerMappedAddress, p.peer_mapped);
  add_addresses(b, attr::kPeerLocalAddress, p.peer_locals);
  b.add(attr::kAttemptToken, p.token);
  b.add_u32(attr::kInitiator, p.initiator ? 1 : 0);
  if (p.peer_nat) b.add(attr::kPeerNatBehavior, encode_nat_behavior(*p.peer_nat));
  if (p.peer_key) b.add(attr::kPeerPublicKey, *p.peer_key);
  if (p.nonce) b.add(attr::kNonce, as_bytes(*p.nonce));
  if (p.turn) {
    b.add_plain_address(attr::kTurnServer, p.turn->server);
    b.add_text(attr::kTurnUsername, p.turn->username);
    b.add_text(attr::kTurnPassword, p.turn->password);
  }
  if (p.peer_port_mapped) b.add_xor_address(attr::kPeerPortMapped, *p.peer_port_mapped);
  if (p.peer_relayed) b.add_xor_address(attr::kPeerRelayed, *p.peer_relayed);
  return std::move(b).finish();
}

Bytes encode_error_response(std::uint16_t method, const TransactionId& txid, int code, std::string_view reason,
                            const std::vector<std::uint16_t>& unknown) {
  MessageBuilder b(method, MessageClass::Error, txid);
  b.add_error(code, reason);
  if (!unknown.empty()) b.add(attr::kUnknownAttributes, encode_unknown_attributes(unknown));
  return std::move(b).finish();
}

Result<RegisterRequest, ParseError> decode_register_request(const MessageView& m) {
  if (!is(m, stun::method::kRegister, MessageClass::Request)) return fail(ParseError::WrongMessage);
  RegisterRequest r;
  auto id = read_id(m, attr::kDeviceId);
  if (!id) return fail(id.error());
  r.id = *id;
  auto locals = read_addresses(m, attr::kLocalAddress);
  if (!locals) return fail(locals.error());
  r.locals = *locals;
  if (const auto* l = m.find(attr::kLifetime)) {
    auto v = read_u32(*l);
    if (!v) return fail(v.error());
    r.lifetime_s = *v;
  }
  if (const auto* n = m.find(attr::kNatBehavior)) {
    auto nat = decode_nat_behavior(n->value);
    if (!nat) return fail(nat.error());
    r.nat = *nat;
  }
  if (const auto* a = m.find(attr::kAllow)) {
    auto allow = decode_allow_list(a->value);
    if (!allow) return fail(allow.error());
    r.allow = std::move(*allow);
  }
  auto pm = optional_xor_address(m, attr::kPortMapped);
  if (!pm) return fail(pm.error());
  r.port_mapped = *pm;
  return r;
}

bool AllowList::allows(const DeviceId& requester) const {
  if (any) return true;
  for (const auto& p : peers)
    if (p.value == requester.value) return true;
  return false;
}

Bytes encode_allow_list(const AllowList& a) {
  Bytes out;
  ByteWriter w(out);
  w.u8(a.any ? 1 : 0);
  for (std::size_t i = 0; i < a.peers.size() && i < kMaxAllowedPeers && !a.any; ++i) {
    auto id = encode_device_id(a.peers[i]);
    if (w.size() + 1 + id.size() > kMaxAllowBytes) break;
    w.u8(static_cast<std::uint8_t>(id.size()));
    w.bytes(id);
  }
  return out;
}

Result<AllowList, ParseError> decode_allow_list(ByteView value) {
  if (value.size() > kMaxAllowBytes) return fail(ParseError::BadAttributeValue);
  ByteReader r(value);
  auto mode = r.u8();
  if (!mode || *mode > 1) return fail(ParseError::BadAttributeValue);
  AllowList a;
  a.any = *mode == 1;
  while (!r.empty()) {
    // "Any" carries no list; a list holds at most kMaxAllowedPeers whole, valid IDs.
    if (a.any || a.peers.size() == kMaxAllowedPeers) return fail(ParseError::BadAttributeValue);
    auto len = r.u8();
    auto bytes = len ? r.take(*len) : std::nullopt;
    if (!bytes) return fail(ParseError::BadAttributeValue);
    auto id = decode_device_id(*bytes);
    if (!id) return fail(id.error());
    a.peers.push_back(std::move(*id));
  }
  return a;
}

Result<RegisterResponse, ParseError> decode_register_response(const MessageView& m) {
  if (!is(m, stun::method::kRegister, MessageClass::Success)) return fail(ParseError::WrongMessage);
  RegisterResponse r;
  auto mapped = mapped_address_of(m);
  if (!mapped) return fail(mapped.error());
  r.mapped = *mapped;
  const auto* l = m.find(attr::kLifetime);
  if (!l) return fail(ParseError::MissingAttribute);
  auto v = read_u32(*l);
  if (!v) return fail(v.error());
  r.lifetime_s = *v;
  return r;
}

Result<ConnectRequest, ParseError> decode_connect_request(const MessageView& m) {
  if (!is(m, stun::method::kConnect, MessageClass::Request)) return fail(ParseError::WrongMessage);
  auto self = read_id(m, attr::kDeviceId);
  if (!self) return fail(self.error());
  auto peer = read_id(m, attr::kPeerId);
  if (!peer) return fail(peer.error());
  auto relayed = optional_xor_address(m, attr::kRelayed);
  if (!relayed) return fail(relayed.error());
  return ConnectRequest{*self, *peer, *relayed};
}

Result<PeerInfo, ParseError> decode_peer_info(const MessageView& m) {
  bool ok = is(m, stun::method::kConnect, MessageClass::Success) ||
            is(m, stun::method::kPeerInfo, MessageClass::Indication);
  if (!ok) return fail(ParseError::WrongMessage);
  PeerInfo p;
  auto peer = read_id(m, attr::kPeerId);
  if (!peer) return fail(peer.error());
  p.peer = *peer;
  const auto* mapped = m.find(attr::kPeerMappedAddress);
  if (!mapped) return fail(ParseError::MissingAttribute);
  auto addr = decode_xor_address(mapped->value, m.transaction);
  if (!addr) return fail(addr.error());
  p.peer_mapped = *addr;
  auto locals = read_addresses(m, attr::kPeerLocalAddress);
  if (!locals) return fail(locals.error());
  p.peer_locals = *locals;
  const auto* token = m.find(attr::kAttemptToken);
  if (!token) return fail(ParseError::MissingAttribute);
  if (token->value.size() != p.token.size()) return fail(ParseError::BadAttributeValue);
  std::memcpy(p.token.data(), token->value.data(), p.token.size());
  if (const auto* init = m.find(attr::kInitiator)) {
    auto v = read_u32(*init);
    if (!v || *v > 1) return fail(ParseError::BadAttributeValue);
    p.initiator = *v == 1;
  }
  if (const auto* n = m.find(attr::kPeerNatBehavior)) {
    auto nat = decode_nat_behavior(n->value);
    if (!nat) return fail(nat.error());
    p.peer_nat = *nat;
  }
  if (const auto* k = m.find(attr::kPeerPublicKey)) {
    std::array<std::byte, 32> key{};
    if (k->value.size() != key.size()) return fail(ParseError::BadAttributeValue);
    std::memcpy(key.data(), k->value.data(), key.size());
    p.peer_key = key;
  }
  if (const auto* n = m.find(attr::kNonce)) {
    // RFC 8489 §14.10: NONCE is at most 763 bytes.
    if (n->value.size() > 763) return fail(ParseError::BadAttributeValue);
    p.nonce = std::string(as_text(n->value));
  }
  const auto* ts = m.find(attr::kTurnServer);
  const auto* tu = m.find(attr::kTurnUsername);
  const auto* tp = m.find(attr::kTurnPassword);
  if (ts || tu || tp) {
    // All three or none; RFC 8489 §14.3: a USERNAME is under 513 bytes; coturn's passwords are short.
    if (!ts || !tu || !tp || tu->value.empty() || tu->value.size() > 512 || tp->value.empty() || tp->value.size() > 256)
      return fail(ParseError::BadAttributeValue);
    auto server = decode_plain_address(ts->value);
    if (!server) return fail(server.error());
    p.turn = TurnGrant{*server, std::string(as_text(tu->value)), std::string(as_text(tp->value))};
  }
  auto pm = optional_xor_address(m, attr::kPeerPortMapped);
  if (!pm) return fail(pm.error());
  p.peer_port_mapped = *pm;
  auto relayed = optional_xor_address(m, attr::kPeerRelayed);
  if (!relayed) return fail(relayed.error());
  p.peer_relayed = *relayed;
  return p;
}

Bytes encode_signal(const Signal& s, MessageClass cls, const TransactionId& txid) {
  MessageBuilder b(stun::method::kSignal, cls, txid);
  b.add(attr::kDeviceId, encode_device_id(s.from));
  b.add(attr::kPeerId, encode_device_id(s.to));
  b.add(attr::kAttemptToken, s.token);
  b.add_u32(attr::kSignalKind, static_cast<std::uint32_t>(s.kind));
  if (s.hint) b.add_xor_address(attr::kProbeTarget, *s.hint);
  return b.finish();
}

Result<Signal, ParseError> decode_signal(const MessageView& m) {
  if (m.method() != stun::method::kSignal ||
      (m.cls() != MessageClass::Request && m.cls() != MessageClass::Indication))
    return fail(ParseError::WrongMessage);
  Signal s;
  auto from = read_id(m, attr::kDeviceId);
  if (!from) return fail(from.error());
  auto to = read_id(m, attr::kPeerId);
  if (!to) return fail(to.error());
  s.from = *from;
  s.to = *to;
  const auto* token = m.find(attr::kAttemptToken);
  const auto* kind = m.find(attr::kSignalKind);
  if (!token || !kind) return fail(ParseError::MissingAttribute);
  if (token->value.size() != s.token.size()) return fail(ParseError::BadAttributeValue);
  std::memcpy(s.token.data(), token->value.data(), s.token.size());
  auto k = read_u32(*kind);
  if (!k || *k < 1 || *k > 3) return fail(ParseError::BadAttributeValue);
  s.kind = static_cast<SignalKind>(*k);
  if (const auto* h = m.find(attr::kProbeTarget)) {
    auto a = decode_xor_address(h->value, m.transaction);
    if (!a) return fail(a.error());
    s.hint = *a;
  }
  return s;
}

Result<ErrorCode, ParseError> decode_error_response(const MessageView& m) {
  if (m.cls() != MessageClass::Error) return fail(ParseError::WrongMessage);
  const auto* e = m.find(attr::kErrorCode);
  if (!e) return fail(ParseError::MissingAttribute);
  return decode_error_code(e->value);
}

}  // namespace natpunch
