#include "device/relayed_connect.h"

#include <algorithm>

#include "wire/message.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {
TurnConfig turn_config(const PeerInfo& punched, RandomSource random) {
  TurnConfig c;
  if (punched.turn) {
    c.server = punched.turn->server;
    c.credentials = {punched.turn->username, punched.turn->password};
  }
  c.random = std::move(random);
  return c;
}
}  // namespace

RelayedConnect::RelayedConnect(Config config, TimePoint now)
    : config_(std::move(config)), turn_(turn_config(config_.punched, config_.random)), created_(now) {
  if (!config_.punched.turn) fail("the rendezvous server offers no relay (natpunch server --turn)", now);
}

void RelayedConnect::fail(std::string why, TimePoint now) {
  if (state_ == State::Failed || state_ == State::Retired) return;
  state_ = State::Failed;
  error_ = std::move(why);
  elapsed_ = duration_cast<milliseconds>(now - created_);
}

void RelayedConnect::send_turn(std::vector<Bytes> out) {
  for (auto& b : out) {
    out_.push_back(OutDatagram{config_.socket, config_.punched.turn->server, std::move(b)});
    ++sent_;
  }
}

void RelayedConnect::on_socket_opened(bool ok, std::string error, TimePoint now) {
  if (state_ != State::OpeningSocket) return;
  if (!ok) return fail("could not open the relay's socket: " + error, now);
  state_ = State::Allocating;
  send_turn(turn_.start(now));
  step(now);
}

void RelayedConnect::on_relay_datagram(const SocketAddress& from, ByteView bytes, TimePoint now) {
  if (state_ == State::OpeningSocket || state_ == State::Failed || !config_.punched.turn) return;
  if (from != config_.punched.turn->server) return;  // only the TURN server talks to this socket
  send_turn(turn_.on_datagram(bytes, now));
  for (auto& d : turn_.take_received()) {
    // The relay admits only the peer's public IP; its punch packets are ours to answer.
    if (looks_like_stun(d.data)) {
      const auto& token = info_ ? info_->token : AttemptToken{};
      auto probe = info_ ? read_punch(d.data, token) : std::nullopt;
      if (!probe || probe->stage != PunchStage::Probe || !d.peer.same_ip(config_.punched.peer_mapped)) continue;
      for (const auto& a : late_probe_answers(*probe, d.peer, false)) {
        auto wrapped = turn_.send(d.peer, encode_punch(a, random_transaction_id(config_.random)));
        if (wrapped) {
          out_.push_back(OutDatagram{config_.socket, config_.punched.turn->server, std::move(*wrapped)});
          ++sent_;
        }
      }
      if (state_ == State::Waiting) {
        remote_ = d.peer;
        state_ = State::Reached;
        elapsed_ = duration_cast<milliseconds>(now - created_);
        next_round_ = now;
      }
      continue;
    }
    if (reached() && state_ != State::Retired) session_in_.push_back(std::move(d));
  }
  step(now);
}

bool RelayedConnect::on_direct(const SocketAddress& from, ByteView bytes, TimePoint) {
  if (!info_ || !reached() || direct_ || !config_.upgrade) return false;
  auto p = read_punch(bytes, info_->token);
  if (!p || p->stage != PunchStage::Ack) return false;
  // Only an address we probed (the peer's mapping, its LAN addresses) can name the direct path.
  if (std::find(candidates_.begin(), candidates_.end(), from) == candidates_.end() &&
      !from.same_ip(config_.punched.peer_mapped))
    return false;
  direct_ = from;
  return true;
}

void RelayedConnect::on_timer(TimePoint now) {
  if (state_ == State::Failed || state_ == State::Retired) return;
  if (state_ != State::OpeningSocket) send_turn(turn_.on_timer(now));
  step(now);
}

// Moves on when the relay is ready, gives up at the deadline, re-introduces while waiting, probes
// for the direct path while relayed.
void RelayedConnect::step(TimePoint now) {
  if (state_ == State::Failed || state_ == State::Retired) return;
  if (state_ != State::OpeningSocket && turn_.state() == TurnClient::State::Failed)
    return fail("relay " + config_.punched.turn->server.to_string() + ": " + turn_.error(), now);
  if (state_ == State::Allocating && turn_.state() == TurnClient::State::Allocated) {
    state_ = State::Permitting;
    // The peer reaches the relay from its public IP (the one the server saw), on a port its NAT
    // picks for the relay: permit the IP.
    send_turn(turn_.permit_ip(config_.punched.peer_mapped, now));
  }
  if (state_ == State::Permitting) {
    switch (turn_.ip_permission(config_.punched.peer_mapped)) {
      case TurnClient::Permission::Granted: state_ = State::Introducing; break;
      case TurnClient::Permission::Refused:
        return fail("relay permission for " + config_.punched.peer_mapped.to_string() + ": " + turn_.error(), now);
      default: break;
    }
  }
  if (!reached() && now >= config_.deadline) {
    std::string why = "the relay timed out";
    if (state_ == State::Waiting && turn_.relayed())
      why = "the peer never reached our relayed address " + turn_.relayed()->to_string();
    else if (state_ == State::Allocating)
      why = "relay " + config_.punched.turn->server.to_string() + ": no allocation before the deadline";
    return fail(why, now);
  }
  if (state_ == State::Waiting && now >= next_reintroduce_ && !request_.empty()) {
    // The same request again: the server answers it from its duplicate cache and introduces us to
    // the peer once more (it may have been busy ending the punch attempt when the first came).
    out_.push_back(OutDatagram{kMainSocket, config_.server, request_});
    ++sent_;
    next_reintroduce_ = now + kReintroduceEvery;
  }
  if (state_ == State::Reached && config_.upgrade && !direct_ && rounds_ < kDirectRounds && now >= next_round_)
    probe_round(now);
}

void RelayedConnect::probe_round(TimePoint now) {
  ++rounds_;
  next_round_ = now + kDirectProbeEvery;
  for (const auto& c : candidates_) {
    out_.push_back(OutDatagram{kMainSocket, c,
                               encode_punch(punch_packet(info_->token, PunchStage::Probe, c, ++sequence_),
                                            random_transaction_id(config_.random))});
    ++sent_;
    ++direct_probes_;
  }
}

std::optional<TimePoint> RelayedConnect::next_deadline() const {
  if (state_ == State::Failed || state_ == State::Retired) return std::nullopt;
  std::optional<TimePoint> t;
  auto take = [&t](std::optional<TimePoint> x) {
    if (x && (!t || *x < *t)) t = x;
  };
  if (state_ != State::OpeningSocket) take(turn_.next_deadline());
  if (!reached()) take(config_.deadline);
  if (state_ == State::Waiting && !request_.empty()) take(next_reintroduce_);
  if (state_ == State::Reached && config_.upgrade && !direct_ && rounds_ < kDirectRounds) take(next_round_);
  return t;
}

void RelayedConnect::introduced(Result<PeerInfo, std::string> info, Bytes request, TimePoint now) {
  if (state_ != State::Introducing) return;
  if (!info) return fail("relayed attempt refused: " + info.error(), now);
  info_ = std::move(*info);
  request_ = std::move(request);
  state_ = State::Waiting;
  next_reintroduce_ = now + kReintroduceEvery;
  candidates_.push_back(config_.punched.peer_mapped);
  for (const auto& l : config_.punched.peer_locals)
    if (l.family == config_.punched.peer_mapped.family && candidates_.size() < kDirectCandidates &&
        std::find(candidates_.begin(), candidates_.end(), l) == candidates_.end())
      candidates_.push_back(l);
  step(now);
}

Result<OutDatagram, std::string> RelayedConnect::wrap(const SocketAddress& to, ByteView bytes) const {
  if (state_ != State::Reached) return natpunch::fail(std::string("the relay is not in use"));
  auto wrapped = turn_.send(to, bytes);
  if (!wrapped) return natpunch::fail(wrapped.error());
  return OutDatagram{config_.socket, config_.punched.turn->server, std::move(*wrapped)};
}

std::vector<RelayedDatagram> RelayedConnect::take_session_data() { return std::exchange(session_in_, {}); }
std::vector<OutDatagram> RelayedConnect::take_datagrams() { return std::exchange(out_, {}); }

void RelayedConnect::retire(TimePoint now) {
  if (state_ == State::Retired || state_ == State::Failed) return;
  if (state_ != State::OpeningSocket) send_turn(turn_.close(now));
  state_ = State::Retired;
}

}  // namespace natpunch
