#include "io/traversal.h"

#include <openssl/rand.h>

#include "io/endpoint.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

std::uint64_t strong_seed() {
  std::uint64_t seed = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
  return seed;
}

Bytes punch_bytes(const AttemptToken& token, PunchStage stage, const SocketAddress& to, std::uint32_t seq,
                  std::string_view payload = {}) {
  PunchPacket p;
  p.token = token;
  p.stage = stage;
  p.target = to;
  p.sequence = seq;
  p.payload.assign(as_bytes(payload).begin(), as_bytes(payload).end());
  return encode_punch(p, random_transaction_id());
}

// A probe after our side has connected (the peer lost our confirms): ack it so its side completes.
void ack_late_probe(udp::socket& socket, const SocketAddress& from, const AttemptToken& token, const PunchPacket& probe) {
  PunchPacket ack;
  ack.token = token;
  ack.stage = PunchStage::Ack;
  ack.target = from;
  ack.reached_at = probe.target;
  auto bytes = encode_punch(ack, random_transaction_id());
  asio::error_code ec;
  socket.send_to(asio::buffer(bytes), to_endpoint(from), 0, ec);
}

}  // namespace

asio::awaitable<Path> punch_path(RendezvousClient& client, const DeviceId& self, std::optional<NatBehavior> self_nat,
                                 SocketAddress self_mapped, const PeerInfo& info, const TraversalOptions& options) {
  Path path;
  PairFacts facts{self_nat, info.peer_nat, self_mapped, info.peer_mapped, info.initiator};
  path.plan = choose_plan(facts, options.tuning, options.method);

  PunchSetup setup;
  setup.token = info.token;
  setup.self = self;
  setup.peer = info.peer;
  setup.server = from_endpoint(client.server());
  setup.peer_mapped = info.peer_mapped;
  setup.peer_locals = info.peer_locals;
  setup.peer_nat = info.peer_nat;
  setup.self_nat = self_nat;
  setup.plan = path.plan;
  setup.tuning = options.tuning;
  setup.seed = strong_seed();
  if (info.initiator) setup.reintroduce = client.last_connect_request();
  Puncher puncher(setup);

  std::vector<udp::socket> sockets;
  auto local = client.socket().local_endpoint();
  sockets.push_back(client.take_socket());
  if (puncher.sockets_wanted() > 1) {
    auto& io = static_cast<asio::io_context&>(sockets[0].get_executor().context());
    auto extra = open_extra_sockets(io, local, puncher.sockets_wanted() - 1);
    if (!extra) {
      client.give_socket(std::move(sockets[0]));
      path.outcome.error = extra.error();
      co_return path;
    }
    for (auto& s : *extra) sockets.push_back(std::move(s));
  }

  milliseconds budget{0};
  for (const auto& st : path.plan.steps) budget += st.budget;
  DriveOptions drive_options;
  drive_options.hard_limit = budget + milliseconds(2000);
  if (options.on_progress) drive_options.on_progress = [&] { options.on_progress(puncher.progress()); };
  auto stats = co_await drive(puncher, sockets, drive_options);

  path.outcome = puncher.outcome();
  path.packets_sent = stats.sent;
  if (!puncher.finished()) path.outcome.error = "timed out";
  if (path.outcome.ok && path.outcome.socket != 0 && path.outcome.socket < sockets.size())
    path.own_socket.emplace(std::move(sockets[path.outcome.socket]));
  client.give_socket(std::move(sockets[0]));
  co_return path;  // the other extra sockets close here: their mappings are no longer needed
}

udp::socket& path_socket(Path& path, RendezvousClient& client) {
  return path.own_socket ? *path.own_socket : client.socket();
}

void send_close(udp::socket& socket, const SocketAddress& remote, const AttemptToken& token) {
  auto bytes = punch_bytes(token, PunchStage::Close, remote, 0);
  asio::error_code ec;
  for (int i = 0; i < 2; ++i) socket.send_to(asio::buffer(bytes), to_endpoint(remote), 0, ec);
}

asio::awaitable<Result<std::string, std::string>> exchange_message(udp::socket& socket, const SocketAddress& remote,
                                                                   const AttemptToken& token, std::string text,
                                                                   milliseconds timeout, std::uint64_t& packets_sent) {
  if (text.size() > kMaxPayload) text.resize(kMaxPayload);
  const std::uint32_t seq = 1;
  auto request = punch_bytes(token, PunchStage::Data, remote, seq, text);
  asio::steady_timer timer(socket.get_executor());
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  auto end = steady_clock::now() + timeout;
  while (steady_clock::now() < end) {
    asio::error_code ec;
    socket.send_to(asio::buffer(request), to_endpoint(remote), 0, ec);
    ++packets_sent;
    auto resend = std::min(end, steady_clock::now() + milliseconds(200));
    while (steady_clock::now() < resend) {
      timer.expires_at(resend);
      auto r = co_await (socket.async_receive_from(asio::buffer(buf), from, use_nothrow) || timer.async_wait(use_nothrow));
      if (r.index() == 1) break;
      auto [rec, n] = std::get<0>(r);
      if (rec) continue;
      auto p = read_punch(ByteView(buf.data(), n), token);
      if (p && p->stage == PunchStage::DataReply && p->sequence == seq)
        co_return std::string(as_text(p->payload));
      if (p && p->stage == PunchStage::Probe) ack_late_probe(socket, from_endpoint(from), token, *p);
    }
  }
  co_return fail(std::string("no echo from the peer within ") + std::to_string(timeout.count()) + " ms");
}

asio::awaitable<ServeStats> serve_path(udp::socket& socket, const SocketAddress& remote, const AttemptToken& token,
                                       milliseconds keepalive, milliseconds idle_timeout,
                                       std::function<void(const std::string&)> on_message) {
  ServeStats stats;
  asio::steady_timer timer(socket.get_executor());
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  auto last_heard = steady_clock::now();
  auto next_keepalive = steady_clock::now() + keepalive;
  std::uint32_t seq = 0;
  for (;;) {
    auto now = steady_clock::now();
    if (now - last_heard >= idle_timeout) {
      stats.ended = "idle timeout";
      co_return stats;
    }
    if (now >= next_keepalive) {
      auto ka = punch_bytes(token, PunchStage::Keepalive, remote, ++seq);
      asio::error_code ec;
      socket.send_to(asio::buffer(ka), to_endpoint(remote), 0, ec);
      next_keepalive = now + keepalive;
    }
    timer.expires_at(std::min(next_keepalive, last_heard + idle_timeout));
    auto r = co_await (socket.async_receive_from(asio::buffer(buf), from, use_nothrow) || timer.async_wait(use_nothrow));
    if (r.index() == 1) {
      auto [tec] = std::get<1>(r);
      if (tec && tec != asio::error::operation_aborted) {
        stats.ended = "stopped";
        co_return stats;
      }
      continue;
    }
    auto [ec, n] = std::get<0>(r);
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
      stats.ended = "stopped";
      co_return stats;
    }
    if (ec) continue;
    auto p = read_punch(ByteView(buf.data(), n), token);
    if (!p || from_endpoint(from) != remote) continue;
    last_heard = steady_clock::now();
    switch (p->stage) {
      case PunchStage::Data: {
        ++stats.messages;
        auto reply = punch_bytes(token, PunchStage::DataReply, remote, p->sequence, as_text(p->payload));
        asio::error_code sec;
        socket.send_to(asio::buffer(reply), to_endpoint(remote), 0, sec);
        if (on_message) on_message(std::string(as_text(p->payload)));
        break;
      }
      case PunchStage::Probe:  // a late probe: keep acking so the peer's side completes
        ack_late_probe(socket, remote, token, *p);
        break;
      case PunchStage::Close:
        stats.ended = "closed by peer";
        co_return stats;
      default:
        break;
    }
  }
}

}  // namespace natpunch
