#include "io/upgrade_path.h"

#include <algorithm>

#include "wire/random_source.h"
#include "wire/message.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::milliseconds;

namespace {
constexpr milliseconds kReaderSlice{200};  // readers look at `stopping_` at least this often
}

UpgradePath::UpgradePath(RelayPath& relay, asio::ip::udp::socket& direct, DirectProbing probing)
    : relay_(relay),
      direct_(direct),
      direct_local_(direct_.local()),
      probing_(std::move(probing)),
      wakeup_(relay.executor()) {}

UpgradePath::~UpgradePath() { stopping_ = true; }

void UpgradePath::push(Item item) {
  if (queue_.size() >= kMaxQueued) return;  // UDP: QUIC recovers
  queue_.push_back(std::move(item));
  wakeup_.cancel();
}

asio::awaitable<void> UpgradePath::read_relay() {
  while (!stopping_) {
    auto r = co_await relay_.receive(Clock::now() + kReaderSlice);
    if (stopping_) break;
    if (r.status == PathReceive::Status::Closed) {
      push({r.status, {}, {}, {}, r.why});
      break;
    }
    if (r.status == PathReceive::Status::Datagram)
      push({r.status, r.from, relay_.local(), Bytes(r.bytes.begin(), r.bytes.end()), {}});
  }
  --running_;
  wakeup_.cancel();
}

asio::awaitable<void> UpgradePath::read_direct() {
  while (!stopping_) {
    auto now = Clock::now();
    if (!acked_by_ && rounds_ < probing_.max_rounds && now >= next_round_) probe_round();
    auto until = now + kReaderSlice;
    if (!acked_by_ && rounds_ < probing_.max_rounds) until = std::min(until, next_round_);
    auto r = co_await direct_.receive(until);
    if (stopping_) break;
    if (r.status == PathReceive::Status::Closed) break;  // the owner's socket: not the session's end
    if (r.status != PathReceive::Status::Datagram) continue;
    if (looks_like_stun(r.bytes)) {
      // The peer's ack of our probe: the direct path works both ways. Its own probes go up (the
      // session driver acks them), and so does anything else STUN-framed (ignored there).
      auto p = read_punch(r.bytes, probing_.token);
      if (p && p->stage == PunchStage::Ack) {
        if (!acked_by_) acked_by_ = r.from;
        continue;
      }
      if (!p) continue;  // the rendezvous server's late answers and the like
    }
    if (std::find(seen_direct_.begin(), seen_direct_.end(), r.from) == seen_direct_.end() && seen_direct_.size() < 16)
      seen_direct_.push_back(r.from);
    push({r.status, r.from, direct_local_, Bytes(r.bytes.begin(), r.bytes.end()), {}});
  }
  --running_;
  wakeup_.cancel();
}

void UpgradePath::probe_round() {
  ++rounds_;
  next_round_ = Clock::now() + probing_.interval;
  for (const auto& c : probing_.candidates) {
    direct_.send(c, encode_punch(punch_packet(probing_.token, PunchStage::Probe, c, ++sequence_), random_transaction_id(system_random())));
    ++probes_sent_;
  }
}

asio::awaitable<PathReceive> UpgradePath::receive(TimePoint until) {
  if (!started_) {
    started_ = true;
    running_ = 2;  // counted before they run: stop() must wait for both even if called at once
    asio::co_spawn(relay_.executor(), read_relay(), asio::detached);
    asio::co_spawn(relay_.executor(), read_direct(), asio::detached);
  }
  while (queue_.empty() && Clock::now() < until && !stopping_) {
    wakeup_.expires_at(until);
    co_await wakeup_.async_wait(use_nothrow);
  }
  PathReceive out;
  if (queue_.empty()) co_return out;  // Idle
  current_ = std::move(queue_.front());
  queue_.pop_front();
  out.status = current_.status;
  out.from = current_.from;
  out.local = current_.local;
  out.bytes = current_.bytes;
  out.why = current_.why;
  co_return out;
}

bool UpgradePath::send(const SocketAddress& to, ByteView bytes) {
  // Answers (late-probe acks) go back the way the peer came.
  if (std::find(seen_direct_.begin(), seen_direct_.end(), to) != seen_direct_.end()) return direct_.send(to, bytes);
  if (relay_retired_) {
    ++dropped_retired_;
    return false;
  }
  return relay_.send(to, bytes);
}

bool UpgradePath::send_from(const SocketAddress& from, const SocketAddress& to, ByteView bytes) {
  if (from == direct_local_) return direct_.send(to, bytes);
  if (relay_retired_) {
    ++dropped_retired_;
    return false;
  }
  return relay_.send(to, bytes);
}

void UpgradePath::close() { stopping_ = true; }

std::optional<std::pair<SocketAddress, SocketAddress>> UpgradePath::direct() const {
  if (!acked_by_) return std::nullopt;
  return std::pair{direct_local_, *acked_by_};
}

asio::awaitable<void> UpgradePath::stop() {
  stopping_ = true;
  wakeup_.cancel();
  asio::steady_timer wait(relay_.executor());
  // Each reader returns within one slice.
  for (int i = 0; running_ > 0 && i < 50; ++i) {
    wait.expires_after(milliseconds(20));
    co_await wait.async_wait(use_nothrow);
  }
}

}  // namespace natpunch
