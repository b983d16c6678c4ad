#include "device/datagram_router.h"

#include <algorithm>

#include "session/quic_header.h"
#include "wire/padding.h"
#include "wire/punch_packet.h"

namespace natpunch {

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::Malformed: return "malformed";
    case DropReason::NotFromServer: return "not-from-server";
    case DropReason::UnexpectedFromServer: return "unexpected-from-server";
    case DropReason::UnknownAttempt: return "unknown-attempt";
    case DropReason::UnknownConnectionId: return "unknown-connection-id";
  }
  return "?";
}

DatagramRouter::DatagramRouter(std::size_t cid_length) : cid_length_(cid_length) {}

void DatagramRouter::add_attempt(const AttemptToken& t) {
  if (!known(t)) attempts_.push_back(t);
}

void DatagramRouter::remove_attempt(const AttemptToken& t) {
  std::erase(attempts_, t);
  std::erase_if(transactions_, [&](const auto& kv) {
    return kv.second.to == Route::To::Attempt && kv.second.attempt == t;
  });
  std::erase_if(expected_, [&](const auto& e) { return e.second == t; });
}

void DatagramRouter::add_transaction(const TransactionId& txid, const AttemptToken& attempt) {
  Route r;
  r.to = Route::To::Attempt;
  r.attempt = attempt;
  transactions_[txid] = r;
}

void DatagramRouter::add_transaction(const TransactionId& txid, std::uint32_t owner) {
  Route r;
  r.to = Route::To::Owner;
  r.id = owner;
  transactions_[txid] = r;
}

void DatagramRouter::remove_transaction(const TransactionId& txid) { transactions_.erase(txid); }

void DatagramRouter::expect_session(const SocketAddress& from, const AttemptToken& attempt) {
  std::erase_if(expected_, [&](const auto& e) { return e.first == from; });
  expected_.emplace_back(from, attempt);
}

void DatagramRouter::add_connection_id(ByteView cid, std::uint32_t session) {
  cids_[Bytes(cid.begin(), cid.end())] = session;
}

void DatagramRouter::remove_connection_id(ByteView cid) { cids_.erase(Bytes(cid.begin(), cid.end())); }

void DatagramRouter::remove_session(std::uint32_t session) {
  std::erase_if(cids_, [&](const auto& kv) { return kv.second == session; });
}

bool DatagramRouter::is_server(const SocketAddress& a) const {
  return std::find(servers_.begin(), servers_.end(), a) != servers_.end();
}

bool DatagramRouter::known(const AttemptToken& t) const {
  return std::find(attempts_.begin(), attempts_.end(), t) != attempts_.end();
}

Route DatagramRouter::drop(DropReason why) {
  ++drops_[static_cast<std::size_t>(why)];
  Route r;
  r.to = Route::To::Drop;
  r.why = why;
  return r;
}

Route DatagramRouter::route(ByteView datagram, const SocketAddress& from) {
  return looks_like_stun(datagram) ? route_stun(datagram, from) : route_quic(datagram, from);
}

Route DatagramRouter::route_stun(ByteView datagram, const SocketAddress& from) {
  auto m = parse_message(datagram, answer_limits());
  if (!m) return drop(DropReason::Malformed);
  auto to_attempt = [&](const AttemptToken& t) {
    if (!known(t)) return drop(DropReason::UnknownAttempt);
    Route r;
    r.to = Route::To::Attempt;
    r.attempt = t;
    return r;
  };
  if (!is_server(from)) {
    // Peers send each other only NP-PUNCH; anything else from a non-server address is not ours.
    if (m->method() != stun::method::kPunch || m->cls() != stun::MessageClass::Indication)
      return drop(DropReason::NotFromServer);
    auto p = decode_punch(*m);
    if (!p) return drop(DropReason::Malformed);
    return to_attempt(p->token);
  }
  auto cls = m->cls();
  if (cls == stun::MessageClass::Success || cls == stun::MessageClass::Error) {
    if (auto it = transactions_.find(m->transaction); it != transactions_.end()) return it->second;
    Route r;
    r.to = Route::To::Client;  // the client takes its own answers, and drops late duplicates
    return r;
  }
  if (cls == stun::MessageClass::Indication && m->method() == stun::method::kPeerInfo) {
    Route r;
    r.to = Route::To::Client;
    return r;
  }
  if (cls == stun::MessageClass::Indication && m->method() == stun::method::kSignal) {
    auto s = decode_signal(*m);
    if (!s) return drop(DropReason::Malformed);
    return to_attempt(s->token);
  }
  return drop(DropReason::UnexpectedFromServer);
}

Route DatagramRouter::route_quic(ByteView datagram, const SocketAddress& from) {
  auto h = parse_quic_header(datagram, cid_length_);
  if (!h) return drop(DropReason::Malformed);
  if (auto it = cids_.find(Bytes(h->dcid.begin(), h->dcid.end())); it != cids_.end()) {
    Route r;
    r.to = Route::To::Session;
    r.id = it->second;
    return r;
  }
  if (h->initial()) {
    for (const auto& [at, attempt] : expected_) {
      if (at != from) continue;
      Route r;
      r.to = Route::To::NewSession;
      r.attempt = attempt;
      return r;
    }
  }
  return drop(DropReason::UnknownConnectionId);
}

}  // namespace natpunch
