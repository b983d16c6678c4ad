#include "io/relay_path.h"

#include <algorithm>

#include "io/endpoint.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {
// Datagrams from the server (TURN answers, peers' data) handled in one receive() before it
// returns Idle to let the session look at its own clock: a bound on the loop, not a rate limit.
constexpr int kMaxWakeupsPerReceive = 64;
}  // namespace

RelayPath::RelayPath(asio::any_io_executor executor) : socket_(executor), timer_(executor) {}

RelayPath::~RelayPath() { close(); }

void RelayPath::transmit(const std::vector<Bytes>& out) {
  for (const auto& b : out) transmit_one(b);
}

bool RelayPath::transmit_one(const Bytes& bytes) {
  asio::error_code ec;
  socket_.send(asio::buffer(bytes.data(), bytes.size()), 0, ec);
  if (ec == asio::error::connection_refused) refused_ = true;
  return !ec;
}

asio::awaitable<void> RelayPath::wait_once(TimePoint until) {
  auto wake = until;
  if (auto d = turn_->next_deadline()) wake = std::min(wake, *d);
  timer_.expires_at(wake);
  auto r = co_await (socket_.async_receive(asio::buffer(buf_), use_nothrow) || timer_.async_wait(use_nothrow));
  auto now = Clock::now();
  if (r.index() == 0) {
    auto [ec, n] = std::get<0>(r);
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
      closed_ = true;
      co_return;
    }
    if (ec == asio::error::connection_refused) refused_ = true;
    if (ec) {
      ++stats_.socket_errors;
    } else {
      transmit(turn_->on_datagram(ByteView(buf_.data(), n), now));  // may bind a channel for a new port
      for (auto& d : turn_->take_received()) {
        if (inbox_.size() >= kMaxQueued) {
          ++stats_.dropped_in;
          continue;
        }
        inbox_.push_back(std::move(d));
      }
    }
  }
  if (auto d = turn_->next_deadline(); d && now >= *d) transmit(turn_->on_timer(now));
}

asio::awaitable<Result<SocketAddress, std::string>> RelayPath::allocate(TurnConfig config, TimePoint deadline) {
  if (turn_ || closed_) co_return fail(std::string("this relay path was already used"));
  server_ = config.server.to_string();
  auto server = to_endpoint(config.server);
  asio::error_code ec;
  socket_.open(server.protocol(), ec);
  if (!ec) socket_.connect(server, ec);
  if (ec) co_return fail("cannot open a socket to the TURN server " + server_ + ": " + ec.message());
  auto started = Clock::now();
  turn_.emplace(std::move(config));
  transmit(turn_->start(started));
  while (turn_->state() == TurnClient::State::Allocating && !refused_ && !closed_ && Clock::now() < deadline)
    co_await wait_once(deadline);
  auto waited = std::to_string(duration_cast<milliseconds>(Clock::now() - started).count());
  std::string why;
  if (turn_->state() == TurnClient::State::Allocated) co_return *turn_->relayed();
  if (turn_->state() == TurnClient::State::Failed)
    why = turn_->error();
  else if (refused_)
    why = "TURN server " + server_ + " unreachable (ICMP: connection refused)";
  else if (closed_)
    why = "the relay path was closed while allocating";
  else
    why = "no answer from the TURN server " + server_ + " within " + waited + " ms";
  close();
  co_return fail(std::move(why));
}

asio::awaitable<Result<bool, std::string>> RelayPath::permit(const SocketAddress& peer, TimePoint deadline) {
  if (!turn_ || turn_->state() != TurnClient::State::Allocated || closed_)
    co_return fail(std::string("no TURN allocation to permit ") + peer.ip_string() + " on");
  transmit(turn_->permit_ip(peer, Clock::now()));
  while (turn_->ip_permission(peer) == TurnClient::Permission::Pending && !closed_ && Clock::now() < deadline)
    co_await wait_once(deadline);
  switch (turn_->ip_permission(peer)) {
    case TurnClient::Permission::Granted: co_return true;
    case TurnClient::Permission::Refused:
      co_return fail("TURN server " + server_ + " refused a permission for " + peer.ip_string() + ": " +
                     turn_->error());
    default: co_return fail("no answer from the TURN server " + server_ + " to the permission for " + peer.ip_string());
  }
}

SocketAddress RelayPath::local() const { return turn_ && turn_->relayed() ? *turn_->relayed() : SocketAddress{}; }

asio::awaitable<PathReceive> RelayPath::receive(TimePoint until) {
  PathReceive out;
  for (int wakeups = 0; wakeups <= kMaxWakeupsPerReceive; ++wakeups) {
    if (!inbox_.empty()) {
      current_ = std::move(inbox_.front());
      inbox_.pop_front();
      ++stats_.received;
      out.status = PathReceive::Status::Datagram;
      out.from = current_.peer;
      out.bytes = current_.data;
      co_return out;
    }
    if (closed_ || !turn_ || turn_->state() != TurnClient::State::Allocated) {
      out.status = PathReceive::Status::Closed;
      if (turn_ && turn_->state() == TurnClient::State::Failed)
        out.why = "relay lost: " + turn_->error();
      else if (!turn_)
        out.why = "no TURN allocation";
      co_return out;  // closed by us: "stopped"
    }
    if (Clock::now() >= until || wakeups == kMaxWakeupsPerReceive) break;
    co_await wait_once(until);
  }
  co_return out;  // Idle
}

bool RelayPath::send(const SocketAddress& to, ByteView bytes) {
  if (!turn_ || closed_ || turn_->state() != TurnClient::State::Allocated) {
    ++stats_.dropped_out;
    return false;
  }
  // A Send indication goes now; the channel (4 bytes of framing instead of ~36) from its answer on.
  if (!turn_->channel_bound(to)) transmit(turn_->bind_channel(to, Clock::now()));
  auto framed = turn_->send(to, bytes);
  if (!framed || !transmit_one(*framed)) {
    ++stats_.dropped_out;
    return false;
  }
  ++stats_.sent;
  return true;
}

void RelayPath::close() {
  if (closed_) return;
  closed_ = true;
  if (turn_ && socket_.is_open()) transmit(turn_->close(Clock::now()));
  asio::error_code ec;
  timer_.cancel();
  socket_.close(ec);
}

}  // namespace natpunch
