#include "relay/turn_client.h"

#include <algorithm>

#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/escape.h"
#include "wire/integrity.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using stun::MessageClass;

namespace {

std::uint16_t turn_method(int kind) {
  static constexpr std::uint16_t methods[] = {turn::method::kAllocate, turn::method::kRefresh,
                                              turn::method::kCreatePermission, turn::method::kChannelBind,
                                              turn::method::kCreatePermission};
  return methods[kind];
}

const char* name_of(int kind) {
  static constexpr const char* names[] = {"Allocate", "Refresh", "CreatePermission", "ChannelBind",
                                          "CreatePermission"};
  return names[kind];
}

std::optional<std::uint32_t> read_u32(const MessageView& m, std::uint16_t type) {
  const auto* a = m.find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  ByteReader r(a->value);
  return r.u32();
}

// §9 and §12: a permission lasts 300 s and a channel 600 s; refresh a minute early.
constexpr seconds kPermissionRefresh{240};
constexpr seconds kChannelRefresh{540};

}  // namespace

TurnClient::TurnClient(TurnConfig config) : config_(std::move(config)) {
  if (!config_.random) config_.random = system_random();
}

TransactionId TurnClient::fresh_id() const { return random_transaction_id(config_.random); }

Bytes TurnClient::request(Kind kind, const TransactionId& id, const SocketAddress& peer, std::uint32_t lifetime) const {
  MessageBuilder b(turn_method(static_cast<int>(kind)), MessageClass::Request, id);
  switch (kind) {
    case Kind::Allocate:
      b.add(turn::attr::kRequestedTransport, turn::requested_transport_udp());
      b.add_u32(turn::attr::kLifetime, static_cast<std::uint32_t>(config_.lifetime.count()));
      break;
    case Kind::Refresh:
      b.add_u32(turn::attr::kLifetime, lifetime);
      break;
    case Kind::Permission:
    case Kind::IpPermission:  // §9: the port of XOR-PEER-ADDRESS is ignored
      b.add(turn::attr::kXorPeerAddress, encode_xor_address(peer, id));
      break;
    case Kind::ChannelBind: {
      const auto* p = find_peer(peer);
      b.add(turn::attr::kChannelNumber, turn::channel_number(p ? p->channel : 0));
      b.add(turn::attr::kXorPeerAddress, encode_xor_address(peer, id));
      break;
    }
  }
  if (realm_ && nonce_) {
    // §9.2 of RFC 8489: long-term credentials on every request once the realm is known.
    b.add_text(stun::attr::kUsername, config_.credentials.username);
    b.add_text(stun::attr::kRealm, *realm_);
    b.add_text(stun::attr::kNonce, *nonce_);
    return b.finish(ByteView(key_));
  }
  return b.finish();
}

std::vector<Bytes> TurnClient::begin(Kind kind, const SocketAddress& peer, TimePoint now, std::uint32_t lifetime) {
  Transaction t{kind, fresh_id(), {}, now, plan_retransmissions(config_.retransmit), 1, peer};
  t.bytes = request(kind, t.id, peer, lifetime);
  auto first = t.bytes;
  pending_.push_back(std::move(t));
  return {std::move(first)};
}

std::vector<Bytes> TurnClient::start(TimePoint now) {
  if (state_ != State::Idle) return {};
  state_ = State::Allocating;
  return begin(Kind::Allocate, {}, now);
}

void TurnClient::fail_with(std::string why) {
  state_ = State::Failed;
  error_ = std::move(why);
  pending_.clear();
}

TurnClient::Peer* TurnClient::find_peer(const SocketAddress& peer) {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}
const TurnClient::Peer* TurnClient::find_peer(const SocketAddress& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}

SocketAddress TurnClient::ip_only(const SocketAddress& a) {
  SocketAddress ip = a;
  ip.port = 0;
  return ip;
}
const TurnClient::IpPermission* TurnClient::find_ip(const SocketAddress& peer) const {
  auto it = ip_permissions_.find(ip_only(peer));
  return it == ip_permissions_.end() ? nullptr : &it->second;
}
bool TurnClient::ip_admits(const SocketAddress& peer) const {
  const auto* ip = find_ip(peer);
  return ip && (ip->state == Permission::Pending || ip->state == Permission::Granted);
}
TurnClient::Permission TurnClient::ip_permission(const SocketAddress& ip) const {
  const auto* p = find_ip(ip);
  return p ? p->state : Permission::None;
}

bool TurnClient::permitted(const SocketAddress& peer) const {
  const auto* p = find_peer(peer);
  const auto* ip = find_ip(peer);
  return (p && p->permitted) || (ip && ip->state == Permission::Granted);
}
bool TurnClient::channel_bound(const SocketAddress& peer) const {
  const auto* p = find_peer(peer);
  return p && p->bound;
}

std::vector<Bytes> TurnClient::add_peer(const SocketAddress& peer, TimePoint now) {
  if (state_ != State::Allocated) return {};
  if (find_peer(peer)) return {};
  if (next_channel_ > turn::kLastChannel) return {};
  peers_[peer].channel = next_channel_++;
  auto out = begin(Kind::Permission, peer, now);
  auto bind = begin(Kind::ChannelBind, peer, now);
  out.insert(out.end(), bind.begin(), bind.end());
  return out;
}

std::vector<Bytes> TurnClient::permit_ip(const SocketAddress& ip, TimePoint now) {
  if (state_ != State::Allocated) return {};
  auto key = ip_only(ip);
  auto it = ip_permissions_.find(key);
  if (it != ip_permissions_.end() && it->second.state != Permission::Refused) return {};
  ip_permissions_[key] = IpPermission{};
  return begin(Kind::IpPermission, key, now);
}

std::vector<Bytes> TurnClient::bind_channel(const SocketAddress& peer, TimePoint now) {
  if (state_ != State::Allocated || find_peer(peer) || !ip_admits(peer)) return {};
  if (learned_ >= kMaxLearnedPeers || next_channel_ > turn::kLastChannel) return {};
  ++learned_;
  peers_[peer].channel = next_channel_++;
  return begin(Kind::ChannelBind, peer, now);
}

Result<Bytes, std::string> TurnClient::send(const SocketAddress& peer, ByteView data) const {
  if (state_ != State::Allocated) return fail(std::string("no TURN allocation"));
  const auto* p = find_peer(peer);
  if (p && p->bound) return turn::encode_channel_data(p->channel, data);
  if (!(p && p->permitted) && !ip_admits(peer)) return fail(std::string("no TURN permission for ") + peer.to_string());
  // The XOR-PEER-ADDRESS of an indication is XORed with its own transaction ID.
  auto id = fresh_id();
  MessageBuilder ind(turn::method::kSend, MessageClass::Indication, id);
  ind.add(turn::attr::kXorPeerAddress, encode_xor_address(peer, id));
  ind.add(turn::attr::kData, data);
  return ind.finish(std::nullopt, false);
}

std::vector<RelayedDatagram> TurnClient::take_received() {
  std::vector<RelayedDatagram> out;
  out.swap(received_);
  return out;
}

std::vector<Bytes> TurnClient::on_datagram(ByteView d, TimePoint now) {
  if (state_ == State::Closed || state_ == State::Failed) return {};
  if (auto cd = turn::parse_channel_data(d)) {
    for (const auto& [addr, p] : peers_)
      if (p.bound && p.channel == cd->channel) received_.push_back({addr, Bytes(cd->data.begin(), cd->data.end())});
    return {};
  }
  ParseLimits limits;
  limits.reject_unknown_required = false;  // TURN's attributes are below 0x8000
  limits.max_message = 2048;
  auto m = parse_message(d, limits);
  if (!m) return {};
  if (m->cls() == MessageClass::Indication && m->method() == turn::method::kData) {
    const auto* peer = m->find(turn::attr::kXorPeerAddress);
    const auto* data = m->find(turn::attr::kData);
    if (!peer || !data) return {};
    auto addr = decode_xor_address(peer->value, m->transaction);
    if (!addr) return {};
    bool known = find_peer(*addr) != nullptr;
    if (!known && !ip_admits(*addr)) return {};
    received_.push_back({*addr, Bytes(data->value.begin(), data->value.end())});
    // A new port of a permitted IP (a symmetric NAT's mapping): give it a channel.
    return known ? std::vector<Bytes>{} : bind_channel(*addr, now);
  }
  if (m->cls() != MessageClass::Success && m->cls() != MessageClass::Error) return {};
  return on_response(*m, now);
}

std::vector<Bytes> TurnClient::on_response(const MessageView& m, TimePoint now) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Transaction& t) { return t.id == m.transaction; });
  if (it == pending_.end()) return {};
  // Once we sign, the server signs too (RFC 8489 §9.2.4): an unsigned or badly signed answer may
  // be forged by anyone who saw the request, and is ignored.
  if (realm_ && m.cls() == MessageClass::Success && !integrity_matches(m, key_)) return {};
  Transaction t = std::move(*it);
  pending_.erase(it);
  if (m.cls() == MessageClass::Error) return on_error(std::move(t), m, now);
  on_success(t, m, now);
  return {};
}

std::vector<Bytes> TurnClient::on_error(Transaction t, const MessageView& m, TimePoint now) {
  auto e = decode_error_response(m);
  int code = e ? e->code : 0;
  std::string reason = e ? escape_for_display(e->reason, 128) : "malformed error";
  const auto* realm = m.find(stun::attr::kRealm);
  const auto* nonce = m.find(stun::attr::kNonce);
  // 401 with REALM and NONCE: sign from now on (once; a second 401 means the credentials are wrong).
  // 438 Stale Nonce: take the new nonce and ask again.
  // (A 438 before any realm is known is malformed: there is nothing to sign with.)
  if ((code == 401 && realm && nonce && auth_rounds_ < 1) || (code == 438 && nonce && (realm || realm_) && auth_rounds_ < 4)) {
    ++auth_rounds_;
    if (realm) realm_ = std::string(as_text(realm->value));
    nonce_ = std::string(as_text(nonce->value));
    key_ = long_term_key(config_.credentials.username, *realm_, config_.credentials.password);
    return begin(t.kind, t.peer, now, t.kind == Kind::Refresh ? static_cast<std::uint32_t>(granted_.count()) : 0);
  }
  std::string why = std::string("TURN ") + name_of(static_cast<int>(t.kind)) + " refused: " +
                    std::to_string(code) + " " + reason;
  if (code == 401) why += " (the TURN credentials were not accepted)";
  if (t.kind == Kind::Allocate || t.kind == Kind::Refresh) {
    fail_with(why);
  } else if (t.kind == Kind::IpPermission) {
    ip_permissions_[t.peer].state = Permission::Refused;
    error_ = why;
  } else if (auto* p = find_peer(t.peer)) {
    (void)p;
    error_ = why;  // the allocation stays; this peer cannot be reached through it
  }
  return {};
}

void TurnClient::on_success(const Transaction& t, const MessageView& m, TimePoint now) {
  auth_rounds_ = 0;
  switch (t.kind) {
    case Kind::Allocate: {
      const auto* relayed = m.find(turn::attr::kXorRelayedAddress);
      auto addr = relayed ? decode_xor_address(relayed->value, m.transaction) : fail(ParseError::MissingAttribute);
      if (!addr) {
        fail_with("TURN Allocate answer without a relayed address");
        return;
      }
      relayed_ = *addr;
      if (auto mapped = mapped_address_of(m)) mapped_ = *mapped;
      granted_ = seconds(read_u32(m, turn::attr::kLifetime).value_or(600));
      state_ = State::Allocated;
      refresh_at_ = now + std::max(granted_ / 2, granted_ - seconds(60));
      break;
    }
    case Kind::Refresh:
      granted_ = seconds(read_u32(m, turn::attr::kLifetime).value_or(static_cast<std::uint32_t>(granted_.count())));
      refresh_at_ = now + std::max(granted_ / 2, granted_ - seconds(60));
      break;
    case Kind::Permission:
      if (auto* p = find_peer(t.peer)) {
        p->permitted = true;
        p->permission_refresh = now + kPermissionRefresh;
      }
      break;
    case Kind::IpPermission: {
      auto& ip = ip_permissions_[t.peer];
      ip.state = Permission::Granted;
      ip.refresh = now + kPermissionRefresh;
      break;
    }
    case Kind::ChannelBind:
      if (auto* p = find_peer(t.peer)) {
        p->bound = true;
        p->permitted = true;  // §12.2: a channel binding installs or refreshes the permission
        p->channel_refresh = now + kChannelRefresh;
      }
      break;
  }
}

std::vector<Bytes> TurnClient::on_timer(TimePoint now) {
  std::vector<Bytes> out;
  if (state_ == State::Closed || state_ == State::Failed) return out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto elapsed = duration_cast<milliseconds>(now - it->started);
    if (elapsed >= it->plan.give_up) {
      auto kind = it->kind;
      auto peer = it->peer;
      it = pending_.erase(it);
      if (kind == Kind::Allocate || kind == Kind::Refresh) {
        fail_with(std::string("no answer from the TURN server ") + config_.server.to_string() + " to " +
                  name_of(static_cast<int>(kind)));
        return out;
      }
      if (kind == Kind::IpPermission) {
        ip_permissions_[peer].state = Permission::Refused;
        error_ = std::string("no answer from the TURN server ") + config_.server.to_string() + " to CreatePermission";
      }
      continue;
    }
    while (it->sent < it->plan.sends.size() && elapsed >= it->plan.sends[it->sent]) {
      out.push_back(it->bytes);
      ++it->sent;
    }
    ++it;
  }
  if (state_ != State::Allocated) return out;
  auto busy = [&](Kind k, const SocketAddress& peer) {
    return std::any_of(pending_.begin(), pending_.end(), [&](const Transaction& t) { return t.kind == k && t.peer == peer; });
  };
  if (now >= refresh_at_ && !busy(Kind::Refresh, {})) {
    refresh_at_ = now + seconds(30);  // until the answer sets the next one
    auto r = begin(Kind::Refresh, {}, now, static_cast<std::uint32_t>(config_.lifetime.count()));
    out.insert(out.end(), r.begin(), r.end());
  }
  for (auto& [addr, p] : peers_) {
    if (p.bound && now >= p.channel_refresh && !busy(Kind::ChannelBind, addr)) {
      p.channel_refresh = now + seconds(30);
      auto r = begin(Kind::ChannelBind, addr, now);
      out.insert(out.end(), r.begin(), r.end());
    } else if (p.permitted && !p.bound && now >= p.permission_refresh && !busy(Kind::Permission, addr)) {
      p.permission_refresh = now + seconds(30);
      auto r = begin(Kind::Permission, addr, now);
      out.insert(out.end(), r.begin(), r.end());
    }
  }
  for (auto& [ip, p] : ip_permissions_) {
    if (p.state == Permission::Granted && now >= p.refresh && !busy(Kind::IpPermission, ip)) {
      p.refresh = now + seconds(30);
      auto r = begin(Kind::IpPermission, ip, now);
      out.insert(out.end(), r.begin(), r.end());
    }
  }
  return out;
}

std::optional<TimePoint> TurnClient::next_deadline() const {
  if (state_ == State::Closed || state_ == State::Failed || state_ == State::Idle) return std::nullopt;
  std::optional<TimePoint> next;
  auto take = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& t : pending_) {
    if (t.sent < t.plan.sends.size()) take(t.started + t.plan.sends[t.sent]);
    take(t.started + t.plan.give_up);
  }
  if (state_ == State::Allocated) {
    take(refresh_at_);
    for (const auto& [addr, p] : peers_) {
      if (p.bound) take(p.channel_refresh);
      else if (p.permitted) take(p.permission_refresh);
    }
    for (const auto& [ip, p] : ip_permissions_)
      if (p.state == Permission::Granted) take(p.refresh);
  }
  return next;
}

std::vector<Bytes> TurnClient::close(TimePoint now) {
  std::vector<Bytes> out;
  if (state_ == State::Allocated) {
    Transaction t{Kind::Refresh, fresh_id(), {}, now, {}, 1, {}};
    out.push_back(request(Kind::Refresh, t.id, {}, 0));  // §7: LIFETIME 0 deletes the allocation
  }
  state_ = State::Closed;
  pending_.clear();
  return out;
}

}  // namespace natpunch
