#include "device/rendezvous_client_machine.h"

#include "wire/address_codec.h"
#include "wire/escape.h"
#include "wire/padding.h"

namespace natpunch {

std::string ClientError::message() const {
  switch (kind) {
    case Kind::Timeout: return "no answer from the server (timed out)";
    case Kind::Socket: return "socket error";
    case Kind::Rejected: {
      auto s = "server refused: " + std::to_string(code) + " " + reason;
      // A bare refusal (the server keeps answers to unproven sources small): say what it means.
      if (code == stun::error_code::kUnauthenticated && reason.empty())
        s += "(unauthenticated: this ID is bound to a key, sign with it: --key-file; or this address has not "
             "proven itself to the server yet: register first)";
      if (code == stun::error_code::kForbidden && reason.empty())
        s += "(forbidden: the peer does not allow this ID, or this ID is not registered or not authorized)";
      return s;
    }
    case Kind::Malformed: return "malformed answer from the server: " + reason;
  }
  return "error";
}

namespace {
constexpr std::size_t kRememberedConnects = 16;

ClientError malformed(ParseError e) { return ClientError{ClientError::Kind::Malformed, 0, std::string(to_string(e))}; }

bool is_answer(const MessageView& m) {
  return m.cls() == stun::MessageClass::Success || m.cls() == stun::MessageClass::Error;
}
}  // namespace

RendezvousClientMachine::RendezvousClientMachine(RendezvousClientConfig config) : config_(std::move(config)) {
  if (!config_.random) config_.random = system_random();
}

RendezvousClientMachine::Txn RendezvousClientMachine::binding(TimePoint now, std::optional<RetransmitPolicy> policy) {
  Transaction t;
  t.kind = Kind::Binding;
  return begin(std::move(t), policy.value_or(config_.policy), now);
}

RendezvousClientMachine::Txn RendezvousClientMachine::register_device(const RegisterRequest& r, TimePoint now,
                                                                      std::optional<RetransmitPolicy> policy) {
  Transaction t;
  t.kind = Kind::Register;
  t.request = r;
  return begin(std::move(t), policy.value_or(config_.policy), now);
}

RendezvousClientMachine::Txn RendezvousClientMachine::connect(const ConnectRequest& r, TimePoint now,
                                                              std::optional<RetransmitPolicy> policy) {
  Transaction t;
  t.kind = Kind::Connect;
  t.request = r;
  return begin(std::move(t), policy.value_or(config_.policy), now);
}

RendezvousClientMachine::Txn RendezvousClientMachine::begin(Transaction t, const RetransmitPolicy& policy,
                                                            TimePoint now) {
  auto txn = next_txn_++;
  if (pending_.size() >= config_.max_transactions) {
    answers_.push_back(ClientAnswer{txn, fail(ClientError{ClientError::Kind::Socket, 0, "too many requests in flight"}),
                                    0, {}});
    return txn;
  }
  t.plan = plan_retransmissions(policy);
  auto& placed = pending_.emplace(txn, std::move(t)).first->second;
  start_round(placed, now);
  return txn;
}

void RendezvousClientMachine::start_round(Transaction& t, TimePoint now) {
  t.txid = random_transaction_id(config_.random);
  t.quoted = nonces_.current();
  auto family = config_.server.family;
  if (t.kind == Kind::Binding)
    t.bytes = padded_binding_request(t.txid, family);
  else if (t.kind == Kind::Register)
    t.bytes = registration_request(std::get<RegisterRequest>(t.request), t.txid, family, config_.key, nonces_.current());
  else
    t.bytes = connection_request(std::get<ConnectRequest>(t.request), t.txid, config_.key, nonces_.current());
  t.round_start = now;
  t.next_send = 0;
  send(t, now);
}

void RendezvousClientMachine::send(Transaction& t, TimePoint now) {
  out_.push_back(OutDatagram{0, config_.server, t.bytes});
  t.last_send = now;
  ++t.next_send;
  ++t.sends;
}

void RendezvousClientMachine::finish(Txn txn, Transaction& t, Result<ClientAnswerValue, ClientError> r,
                                     TimePoint now) {
  ClientAnswer a{txn, std::move(r), t.sends,
                 std::chrono::duration_cast<std::chrono::microseconds>(now - t.last_send)};
  if (t.kind == Kind::Connect) {
    answered_connects_.emplace_back(txn, t.bytes);
    if (answered_connects_.size() > kRememberedConnects) answered_connects_.pop_front();
  }
  answers_.push_back(std::move(a));
  pending_.erase(txn);
}

bool RendezvousClientMachine::reintroduce(Txn txn, TimePoint now) {
  if (auto it = pending_.find(txn); it != pending_.end()) {
    if (it->second.kind != Kind::Connect) return false;
    out_.push_back(OutDatagram{0, config_.server, it->second.bytes});
    it->second.last_send = now;
    return true;
  }
  for (const auto& [t, bytes] : answered_connects_) {
    if (t != txn) continue;
    out_.push_back(OutDatagram{0, config_.server, bytes});
    return true;
  }
  return false;
}

Bytes RendezvousClientMachine::request_bytes(Txn txn) const {
  if (auto it = pending_.find(txn); it != pending_.end()) return it->second.bytes;
  for (const auto& [t, bytes] : answered_connects_)
    if (t == txn) return bytes;
  return {};
}

bool RendezvousClientMachine::on_datagram(ByteView d, const SocketAddress& from, TimePoint now) {
  // Only the server answers these transactions and sends peer-info.
  if (from != config_.server) return false;
  auto m = parse_message(d, answer_limits());
  if (!m) return false;
  if (m->method() == stun::method::kPeerInfo && m->cls() == stun::MessageClass::Indication) {
    on_peer_info(*m);
    return true;
  }
  if (!is_answer(*m)) return false;
  auto it = pending_.begin();
  for (; it != pending_.end(); ++it)
    if (it->second.txid == m->transaction) break;
  if (it == pending_.end()) return false;  // not ours (the puncher's signal) or a late duplicate
  auto txn = it->first;
  auto& t = it->second;
  if (t.kind != Kind::Binding) {
    auto kind = t.kind == Kind::Register ? ClientRequest::Register : ClientRequest::Connect;
    if (nonces_.after_answer(*m, kind, config_.key != nullptr, t.round, t.quoted) == NonceStep::AgainQuotingNonce) {
      ++t.round;
      start_round(t, now);
      return true;
    }
  }
  if (m->cls() == stun::MessageClass::Error) {
    auto e = decode_error_response(*m);
    if (!e)
      finish(txn, t, fail(malformed(e.error())), now);
    else
      finish(txn, t, fail(ClientError{ClientError::Kind::Rejected, e->code, escape_for_display(e->reason, 128)}), now);
    return true;
  }
  if (t.kind == Kind::Binding) {
    auto mapped = mapped_address_of(*m);
    if (!mapped)
      finish(txn, t, fail(malformed(mapped.error())), now);
    else
      finish(txn, t, ClientAnswerValue{*mapped}, now);
  } else if (t.kind == Kind::Register) {
    auto resp = decode_register_response(*m);
    if (!resp)
      finish(txn, t, fail(malformed(resp.error())), now);
    else
      finish(txn, t, ClientAnswerValue{*resp}, now);
  } else {
    auto info = decode_peer_info(*m);
    if (!info)
      finish(txn, t, fail(malformed(info.error())), now);
    else
      finish(txn, t, ClientAnswerValue{*info}, now);
  }
  return true;
}

void RendezvousClientMachine::on_peer_info(const MessageView& m) {
  auto info = decode_peer_info(m);
  if (!info) return;
  if (!nonces_.vouches_for(*info, config_.key != nullptr)) {
    ++unauthenticated_peer_infos_;
    return;
  }
  if (peer_infos_.size() >= config_.max_peer_infos) {
    ++dropped_peer_infos_;
    return;
  }
  peer_infos_.push_back(std::move(*info));
}

void RendezvousClientMachine::on_timer(TimePoint now) {
  std::vector<Txn> timed_out;
  for (auto& [txn, t] : pending_) {
    if (t.next_send < t.plan.sends.size()) {
      if (now >= t.round_start + t.plan.sends[t.next_send]) send(t, now);
    } else if (now >= t.round_start + t.plan.give_up) {
      timed_out.push_back(txn);
    }
  }
  for (auto txn : timed_out) finish(txn, pending_.at(txn), fail(ClientError{ClientError::Kind::Timeout, 0, {}}), now);
}

std::optional<TimePoint> RendezvousClientMachine::next_deadline() const {
  std::optional<TimePoint> next;
  for (const auto& [txn, t] : pending_) {
    auto at = t.round_start + (t.next_send < t.plan.sends.size() ? t.plan.sends[t.next_send] : t.plan.give_up);
    if (!next || at < *next) next = at;
  }
  return next;
}

void RendezvousClientMachine::end_all(ClientError::Kind why) {
  while (!pending_.empty()) {
    auto& [txn, t] = *pending_.begin();
    finish(txn, t, fail(ClientError{why, 0, {}}), t.last_send);
  }
}

void RendezvousClientMachine::on_socket_error() { end_all(ClientError::Kind::Socket); }

void RendezvousClientMachine::set_server(const SocketAddress& server) {
  if (server == config_.server) return;
  end_all(ClientError::Kind::Timeout);
  nonces_.forget();
  answered_connects_.clear();
  config_.server = server;
}

std::vector<OutDatagram> RendezvousClientMachine::take_datagrams() { return std::exchange(out_, {}); }

std::vector<ClientAnswer> RendezvousClientMachine::take_answers() { return std::exchange(answers_, {}); }

std::optional<PeerInfo> RendezvousClientMachine::take_peer_info() {
  if (peer_infos_.empty()) return std::nullopt;
  auto p = std::move(peer_infos_.front());
  peer_infos_.pop_front();
  return p;
}

}  // namespace natpunch
