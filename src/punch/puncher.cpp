#include "punch/puncher.h"

#include <algorithm>

#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/padding.h"

namespace natpunch {

namespace {
using std::chrono::milliseconds;
constexpr int kMaxBatch = 64;  // sends per timer tick when catching up
constexpr milliseconds kSignalRto{200};
constexpr int kSignalMaxSends = 6;
constexpr milliseconds kReintroduceEvery{400};
constexpr int kMaxReintroductions = 8;
constexpr milliseconds kHintWait{400};      // ListenerReady waits at most this long for the hint
constexpr std::size_t kMaxRemembered = 64;  // acked and proposed paths kept per attempt
constexpr std::size_t kRttProbes = 1024;     // probes remembered to time the acks that echo them
constexpr std::size_t kMaxRechecked = 8;    // of each, re-probed per probe interval

// How many ports around the base the sprayer predicts first (sequential peers).
int prediction_window(const PunchTuning& t) { return std::min(t.probes / 2, 4 * std::max(t.ports, 16)); }

std::chrono::microseconds interval_of(double rate) {
  return rate > 0 ? std::chrono::microseconds(std::max<long long>(1, static_cast<long long>(1e6 / rate)))
                  : std::chrono::microseconds(0);
}
}  // namespace

Puncher::Puncher(PunchSetup setup) : s_(std::move(setup)), rng_(s_.seed) {}

std::size_t Puncher::sockets_wanted() const {
  for (const auto& st : s_.plan.steps)
    if (st.role == BirthdayRole::Listener) return 1 + static_cast<std::size_t>(std::max(0, s_.tuning.ports));
  return 1;
}

TransactionId Puncher::next_txid() {
  TransactionId t{};
  for (auto& b : t) b = std::byte(rng_());
  return t;
}

std::vector<OutDatagram> Puncher::start(TimePoint now) {
  now_ = now;
  started_ = now;
  next_reintroduce_ = now + kReintroduceEvery;
  std::vector<OutDatagram> out;
  if (s_.plan.steps.empty()) {
    fail(s_.plan.hopeless.empty() ? "no method to try" : s_.plan.hopeless, now);
    return out;
  }
  begin_step(0, now, out);
  return out;
}

std::vector<SocketAddress> Puncher::candidates() const {
  std::vector<SocketAddress> c;
  // The peer's router mapping is reachable from anywhere; without one (our side has the mapping),
  // our probes to its public mapping may be lost, but its probes to our mapping get answered.
  if (s_.plan.steps[step_].method == Method::PortMapped && s_.peer_port_mapped) c.push_back(*s_.peer_port_mapped);
  if (s_.plan.steps[step_].method == Method::Direct)
    for (const auto& l : s_.peer_locals)
      if (l.family == s_.peer_mapped.family) c.push_back(l);
  c.push_back(s_.peer_mapped);
  return c;
}

void Puncher::begin_step(std::size_t index, TimePoint now, std::vector<OutDatagram>& out) {
  step_ = index;
  const auto& st = s_.plan.steps[index];
  step_deadline_ = now + st.budget;
  sent_in_phase_ = 0;
  to_send_in_phase_ = 0;
  next_send_ = now;
  signal_request_.clear();
  const auto& t = s_.tuning;
  auto paced = [&](int n) { return now + interval_of(t.rate_pps) * n + milliseconds(1000); };

  switch (st.method) {
    case Method::Direct:
    case Method::PortMapped:
    case Method::Simultaneous:
      phase_ = Phase::Probing;
      next_probe_ = now;
      pace(now, out);
      return;
    case Method::BirthdayListenFirst:
      if (st.role == BirthdayRole::Listener) {
        phase_ = Phase::OpenSockets;
        to_send_in_phase_ = t.ports;
      } else {
        phase_ = Phase::WaitSignal;  // for ListenerReady; start anyway when it is late
        signal_fallback_ = paced(t.ports);
      }
      break;
    case Method::BirthdaySprayFirst:
      if (st.role == BirthdayRole::Sprayer) {
        phase_ = Phase::Spraying;
        to_send_in_phase_ = t.probes;
      } else {
        phase_ = Phase::WaitSignal;  // for SprayDone
        signal_fallback_ = paced(t.probes);
      }
      break;
  }
  want_hint_ = st.method == Method::BirthdayListenFirst && st.role == BirthdayRole::Listener && s_.self_nat &&
               s_.self_nat->allocation == Allocation::Sequential;
  if (st.role == BirthdayRole::Sprayer && !ports_)
    ports_ = std::make_unique<PortSequence>(t.port_lo, t.port_hi, rng_(), s_.peer_mapped.port, s_.peer_nat,
                                            prediction_window(t));
  if (phase_ == Phase::WaitSignal && early_signal_) {
    auto kind = *early_signal_;
    early_signal_.reset();
    if (early_hint_) use_hint(*early_hint_);
    take_signal(kind, now, out);
  }
  pace(now, out);
}

void Puncher::send_punch(std::vector<OutDatagram>& out, std::size_t socket, const SocketAddress& to, PunchStage stage,
                         std::optional<SocketAddress> reached_at, std::optional<std::uint32_t> echo) {
  PunchPacket p;
  p.token = s_.token;
  p.stage = stage;
  p.target = to;
  p.reached_at = reached_at;
  // An ack echoes the sequence of the probe it answers (the prober times the round trip by it).
  p.sequence = echo.value_or(++sequence_);
  out.push_back({socket, to, encode_punch(p, next_txid())});
  ++outcome_.packets_sent;
  if (stage == PunchStage::Probe) {
    ++outcome_.probes_sent;
    sent_probes_.push_back({p.sequence, to, now_});
    if (sent_probes_.size() > kRttProbes) sent_probes_.pop_front();
  }
}

void Puncher::time_ack(const PunchPacket& ack, TimePoint now) {
  if (!ack.reached_at) return;
  for (const auto& probe : sent_probes_) {
    if (probe.sequence != ack.sequence || probe.to != *ack.reached_at) continue;
    auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - probe.at);
    if (!outcome_.rtt || rtt < *outcome_.rtt) outcome_.rtt = rtt;
    return;
  }
}

void Puncher::send_signal(SignalKind kind, TimePoint now, std::vector<OutDatagram>& out,
                          std::optional<SocketAddress> hint) {
  Signal sig{s_.self, s_.peer, s_.token, kind, hint};
  signal_txid_ = next_txid();
  signal_request_ = encode_signal(sig, stun::MessageClass::Request, signal_txid_);
  signal_sends_ = 1;
  signal_next_ = now + kSignalRto;
  out.push_back({0, s_.server, signal_request_});
  ++outcome_.packets_sent;
}

void Puncher::pace(TimePoint now, std::vector<OutDatagram>& out) {
  if (done_) return;
  // A controlled side that has proposed a working path sends nothing new (no more mappings or
  // probes): the controlling side's confirm is one round trip away, and re-probes cover its loss.
  if (!proposed_.empty()) return;
  const auto& st = s_.plan.steps[step_];
  if (phase_ == Phase::Probing) {
    if (now >= next_probe_) {
      for (const auto& c : candidates()) send_punch(out, 0, c, PunchStage::Probe);
      next_probe_ = now + s_.tuning.probe_interval;
    }
    return;
  }
  if (phase_ != Phase::OpenSockets && phase_ != Phase::Spraying) return;
  auto interval = interval_of(s_.tuning.rate_pps);
  int batch = 0;
  while (sent_in_phase_ < to_send_in_phase_ && next_send_ <= now && (interval.count() == 0 || batch < kMaxBatch)) {
    if (phase_ == Phase::OpenSockets) {
      if (sent_in_phase_ == 0 && want_hint_) {
        // First a flow to the server: its mapping is the counter's value just before our sockets'.
        hint_txid_ = next_txid();
        out.push_back({1, s_.server, padded_binding_request(hint_txid_, s_.server.family)});
        ++outcome_.packets_sent;
      }
      // Socket i sends toward the cone side's mapping: this creates socket i's mapping on our NAT.
      send_punch(out, 1 + static_cast<std::size_t>(sent_in_phase_), s_.peer_mapped, PunchStage::Probe);
    } else {
      auto port = ports_->next();
      if (port == 0) {
        to_send_in_phase_ = sent_in_phase_;
        break;
      }
      auto to = s_.peer_mapped;
      to.port = port;
      send_punch(out, 0, to, PunchStage::Probe);
    }
    ++sent_in_phase_;
    ++batch;
    next_send_ += interval;
  }
  if (sent_in_phase_ >= to_send_in_phase_) after_sending_phase(now, out);
  (void)st;
}

void Puncher::after_sending_phase(TimePoint now, std::vector<OutDatagram>& out) {
  const auto& st = s_.plan.steps[step_];
  phase_ = Phase::Waiting;
  // Tell the other side our half is done, through the server.
  if (st.method == Method::BirthdayListenFirst && st.role == BirthdayRole::Listener) {
    if (want_hint_ && !hint_) {
      ready_pending_ = true;
      hint_deadline_ = now + kHintWait;
    } else {
      send_signal(SignalKind::ListenerReady, now, out, hint_);
    }
  }
  if (st.method == Method::BirthdaySprayFirst && st.role == BirthdayRole::Sprayer)
    send_signal(SignalKind::SprayDone, now, out);
}

void Puncher::on_signal_datagram(ByteView bytes, TimePoint now, std::vector<OutDatagram>& out) {
  auto m = parse_message(bytes);
  if (!m || m->method() != stun::method::kSignal) return;
  if (m->cls() == stun::MessageClass::Success || m->cls() == stun::MessageClass::Error) {
    if (m->transaction == signal_txid_) signal_request_.clear();  // delivered (or refused): stop
    return;
  }
  auto sig = decode_signal(*m);
  if (!sig || sig->token != s_.token) return;
  heard_from_peer_ = true;
  if (sig->kind == SignalKind::GiveUp) {
    // The peer stopped punching (it goes through the relay, or was told to stop): no point going on.
    fail("the peer gave up on a direct path", now);
    return;
  }
  if (phase_ != Phase::WaitSignal) {
    early_signal_ = sig->kind;
    early_hint_ = sig->hint;
    return;
  }
  if (sig->hint) use_hint(*sig->hint);
  take_signal(sig->kind, now, out);
}

void Puncher::use_hint(const SocketAddress& hint) {
  // Only a sprayer facing a sequential NAT that has not started spraying re-bases its prediction:
  // the listener's sockets got the ports right after the hint's.
  const auto& st = s_.plan.steps[step_];
  if (st.role != BirthdayRole::Sprayer || sent_in_phase_ > 0 || !s_.peer_nat ||
      s_.peer_nat->allocation != Allocation::Sequential || hint.family != s_.peer_mapped.family)
    return;
  const auto& t = s_.tuning;
  ports_ =
      std::make_unique<PortSequence>(t.port_lo, t.port_hi, rng_(), hint.port, s_.peer_nat, prediction_window(t), true);
}

void Puncher::on_hint_response(const InDatagram& d, TimePoint now, std::vector<OutDatagram>& out) {
  auto m = parse_message(d.bytes);
  if (!m || m->method() != stun::method::kBinding || m->cls() != stun::MessageClass::Success ||
      m->transaction != hint_txid_ || hint_)
    return;
  auto mapped = mapped_address_of(*m);
  if (!mapped) return;
  hint_ = *mapped;
  if (ready_pending_) {
    ready_pending_ = false;
    send_signal(SignalKind::ListenerReady, now, out, hint_);
  }
}

void Puncher::take_signal(SignalKind kind, TimePoint now, std::vector<OutDatagram>& out) {
  const auto& st = s_.plan.steps[step_];
  bool expected = (st.method == Method::BirthdayListenFirst && kind == SignalKind::ListenerReady) ||
                  (st.method == Method::BirthdaySprayFirst && kind == SignalKind::SprayDone);
  if (!expected) return;
  phase_ = st.role == BirthdayRole::Sprayer ? Phase::Spraying : Phase::OpenSockets;
  to_send_in_phase_ = st.role == BirthdayRole::Sprayer ? s_.tuning.probes : s_.tuning.ports;
  sent_in_phase_ = 0;
  next_send_ = now;
  pace(now, out);
}

std::vector<OutDatagram> Puncher::on_datagram(const InDatagram& d, TimePoint now) {
  now_ = now;
  if (done_) return answer_late(d);
  std::vector<OutDatagram> out;
  if (d.socket == 0 && d.from == s_.server) {
    on_signal_datagram(d.bytes, now, out);
    return out;
  }
  if (d.from == s_.server) {
    if (want_hint_) on_hint_response(d, now, out);
    return out;
  }
  auto p = read_punch(d.bytes, s_.token);
  if (!p) return out;  // not ours: ignored silently
  heard_from_peer_ = true;
  const std::pair<std::size_t, SocketAddress> path{d.socket, d.from};
  auto known = [](const auto& list, const auto& x) { return std::find(list.begin(), list.end(), x) != list.end(); };
  auto remember = [&](auto& list) {
    if (known(list, path) || list.size() >= kMaxRemembered) return;
    if (acked_.empty() && proposed_.empty()) next_recheck_ = now + s_.tuning.probe_interval;
    list.push_back(path);
  };
  switch (p->stage) {
    case PunchStage::Probe:
      ++outcome_.probes_received;
      // Answer from the socket it arrived on, carrying where it reached us ("the first mapping").
      send_punch(out, d.socket, d.from, PunchStage::Ack, p->target, p->sequence);
      remember(acked_);
      break;
    case PunchStage::Ack:
      time_ack(*p, now);
      if (s_.controlling) {
        connect(d.socket, d.from, p->target, now);
        send_punch(out, d.socket, d.from, PunchStage::Confirm);
        send_punch(out, d.socket, d.from, PunchStage::Confirm);  // twice, against loss
      } else {
        // A proposal: the controlling side takes it (if it has not chosen yet) and confirms it.
        remember(proposed_);
        send_punch(out, d.socket, d.from, PunchStage::Confirm);
        send_punch(out, d.socket, d.from, PunchStage::Confirm);
      }
      break;
    case PunchStage::Confirm:
      // The peer's choice (controlled side) or its proposal (controlling side) of a path known to
      // work both ways: we acked its probe there, or it acked ours.
      if (!known(acked_, path) && !known(proposed_, path)) break;
      connect(d.socket, d.from, p->target, now);
      if (s_.controlling) {
        send_punch(out, d.socket, d.from, PunchStage::Confirm);
        send_punch(out, d.socket, d.from, PunchStage::Confirm);
      }
      break;
  }
  return out;
}

std::vector<OutDatagram> Puncher::answer_late(const InDatagram& d) {
  std::vector<OutDatagram> out;
  if (!outcome_.ok) return out;
  auto p = read_punch(d.bytes, s_.token);
  if (!p) return out;
  bool on_path = d.socket == outcome_.socket && d.from == outcome_.remote;
  for (const auto& a : late_probe_answers(*p, d.from, on_path)) {
    out.push_back({d.socket, d.from, encode_punch(a, next_txid())});
    ++outcome_.packets_sent;
  }
  return out;
}

void Puncher::connect(std::size_t socket, const SocketAddress& remote, const SocketAddress& self_public,
                      TimePoint now) {
  if (done_) return;
  done_ = true;
  outcome_.ok = true;
  outcome_.self_public = self_public;  // the peer addressed this packet to us as it sees us
  outcome_.method = s_.plan.steps[step_].method;
  outcome_.socket = socket;
  outcome_.remote = remote;
  outcome_.elapsed = std::chrono::duration_cast<milliseconds>(now - started_);
}

void Puncher::fail(std::string why, TimePoint now) {
  done_ = true;
  outcome_.ok = false;
  outcome_.error = std::move(why);
  outcome_.elapsed = std::chrono::duration_cast<milliseconds>(now - started_);
}

std::vector<OutDatagram> Puncher::on_timer(TimePoint now) {
  now_ = now;
  std::vector<OutDatagram> out;
  if (done_) return out;
  if (now >= step_deadline_) {
    if (step_ + 1 < s_.plan.steps.size()) {
      begin_step(step_ + 1, now, out);
    } else {
      std::string tried;
      for (const auto& st : s_.plan.steps) tried += (tried.empty() ? "" : ", ") + std::string(to_string(st.method));
      fail("no path found: tried " + tried + " (" + std::to_string(outcome_.probes_sent) + " probes sent, " +
               std::to_string(outcome_.probes_received) + " received)",
           now);
    }
    return out;
  }
  if (!heard_from_peer_ && !s_.reintroduce.empty() && now >= next_reintroduce_ &&
      reintroductions_ < kMaxReintroductions) {
    out.push_back({0, s_.server, s_.reintroduce});
    ++outcome_.packets_sent;
    ++reintroductions_;
    next_reintroduce_ = now + kReintroduceEvery;
  }
  if (!signal_request_.empty() && now >= signal_next_) {
    if (signal_sends_ < kSignalMaxSends) {
      out.push_back({0, s_.server, signal_request_});
      ++outcome_.packets_sent;
      signal_next_ = now + kSignalRto * (1 << std::min(signal_sends_, 4));
      ++signal_sends_;
    } else {
      signal_request_.clear();
    }
  }
  // Paths we acked or proposed whose confirmation never came (lost): probe them ourselves. A peer
  // that has chosen answers a probe on its path with a confirm (late_probe_answers), which
  // completes our side; one that has not acks it, as any probe.
  if ((!acked_.empty() || !proposed_.empty()) && now >= next_recheck_) {
    for (const auto* list : {&acked_, &proposed_})
      for (std::size_t i = 0; i < std::min(list->size(), kMaxRechecked); ++i) {
        send_punch(out, (*list)[i].first, (*list)[i].second, PunchStage::Probe);
        --outcome_.probes_sent;  // counted apart: not part of the spray (bounded by M)
        ++outcome_.reprobes_sent;
      }
    next_recheck_ = now + s_.tuning.probe_interval;
  }
  if (ready_pending_ && now >= hint_deadline_) {
    ready_pending_ = false;  // no answer from the server in time: signal without the hint
    send_signal(SignalKind::ListenerReady, now, out);
  }
  if (phase_ == Phase::WaitSignal && now >= signal_fallback_) {
    // The signal is late (lost three ways, or the peer is slow): go on without it.
    const auto& st = s_.plan.steps[step_];
    phase_ = st.role == BirthdayRole::Sprayer ? Phase::Spraying : Phase::OpenSockets;
    to_send_in_phase_ = st.role == BirthdayRole::Sprayer ? s_.tuning.probes : s_.tuning.ports;
    sent_in_phase_ = 0;
    next_send_ = now;
  }
  pace(now, out);
  return out;
}

std::optional<TimePoint> Puncher::next_deadline() const {
  if (done_) return std::nullopt;
  TimePoint t = step_deadline_;
  const bool sending = proposed_.empty();  // paused while a proposal waits (pace())
  if (sending && phase_ == Phase::Probing) t = std::min(t, next_probe_);
  if (sending && (phase_ == Phase::OpenSockets || phase_ == Phase::Spraying) && sent_in_phase_ < to_send_in_phase_)
    t = std::min(t, next_send_);
  if (phase_ == Phase::WaitSignal) t = std::min(t, signal_fallback_);
  if (ready_pending_) t = std::min(t, hint_deadline_);
  if (!signal_request_.empty()) t = std::min(t, signal_next_);
  if (!heard_from_peer_ && !s_.reintroduce.empty() && reintroductions_ < kMaxReintroductions)
    t = std::min(t, next_reintroduce_);
  if (!acked_.empty() || !proposed_.empty()) t = std::min(t, next_recheck_);
  return t;
}

std::string Puncher::progress() const {
  if (done_) return outcome_.ok ? "connected" : "failed";
  const auto& st = s_.plan.steps[step_];
  std::string s = std::string(to_string(st.method));
  switch (phase_) {
    case Phase::Probing: s += ": probing"; break;
    case Phase::OpenSockets:
      s += ": opening sockets " + std::to_string(sent_in_phase_) + "/" + std::to_string(to_send_in_phase_);
      break;
    case Phase::Spraying:
      s += ": spraying " + std::to_string(sent_in_phase_) + "/" + std::to_string(to_send_in_phase_);
      break;
    case Phase::WaitSignal: s += ": waiting for the peer's signal"; break;
    case Phase::Waiting: s += ": waiting for an answer"; break;
  }
  return s + " (" + std::to_string(outcome_.probes_sent) + " probes sent)";
}

}  // namespace natpunch
