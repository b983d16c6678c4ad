#include "io/relay_fallback.h"

#include "io/endpoint.h"
#include "wire/random_source.h"
#include "wire/punch_packet.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kProbeEvery{200};
constexpr milliseconds kReintroduceEvery{1000};
constexpr int kGiveUpSends = 2;

Bytes punch(const AttemptToken& token, PunchStage stage, const SocketAddress& target, std::uint32_t sequence) {
  return encode_punch(punch_packet(token, stage, target, sequence), random_transaction_id(system_random()));
}

void send_raw(udp::socket& socket, ByteView bytes, const udp::endpoint& to) {
  asio::error_code ec;
  socket.send_to(asio::buffer(bytes.data(), bytes.size()), to, 0, ec);
}

}  // namespace

asio::awaitable<RelayedAttempt> open_relayed_path(RendezvousClient& client, const DeviceId& self,
                                                  const PeerInfo& punched, TimePoint deadline) {
  RelayedAttempt r;
  auto started = Clock::now();
  auto finish = [&](std::string error) {
    r.error = std::move(error);
    r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    if (!r.error.empty() && r.path) {
      r.path->close();
      r.path.reset();
    }
    return std::move(r);
  };
  if (!punched.turn) co_return finish("the rendezvous server offers no relay (natpunch server --turn)");

  // The peer may still be punching for the attempt that failed here: tell it to stop, so it is back
  // waiting for the relayed attempt's peer-info.
  Signal give_up{self, punched.peer, punched.token, SignalKind::GiveUp, std::nullopt};
  for (int i = 0; i < kGiveUpSends; ++i) {
    send_raw(client.socket(), encode_signal(give_up, stun::MessageClass::Request, random_transaction_id(system_random())),
             client.server());
    ++r.packets_sent;
  }

  r.path = std::make_unique<RelayPath>(client.socket().get_executor());
  TurnConfig config;
  config.server = punched.turn->server;
  config.credentials = {punched.turn->username, punched.turn->password};
  auto allocated = co_await r.path->allocate(config, deadline);
  if (!allocated) co_return finish("relay " + punched.turn->server.to_string() + ": " + allocated.error());
  r.relayed = *allocated;
  // The peer reaches the relay from its public IP (the one the rendezvous server saw), on a port
  // its NAT picks for the relay: permit the IP.
  auto permitted = co_await r.path->permit(punched.peer_mapped, deadline);
  if (!permitted) co_return finish("relay permission for " + punched.peer_mapped.to_string() + ": " + permitted.error());

  const ConnectRequest request{self, punched.peer, r.relayed};
  auto info = co_await client.connect(request);
  r.packets_sent += static_cast<std::uint64_t>(client.last_sends());
  if (!info) co_return finish("relayed attempt refused: " + info.error().message());
  r.info = *info;

  // Wait for the peer's probe through the relay; while none comes, send the same request again
  // (the server answers it from its duplicate cache and re-sends the peer its peer-info: the peer
  // may have been busy finishing the punch attempt when the first one came).
  auto next_reintroduce = Clock::now() + kReintroduceEvery;
  std::uint32_t sequence = 0;
  while (Clock::now() < deadline) {
    auto until = std::min(deadline, next_reintroduce);
    auto got = co_await r.path->receive(until);
    if (got.status == PathReceive::Status::Closed) co_return finish("relay lost: " + got.why);
    if (got.status == PathReceive::Status::Idle) {
      if (Clock::now() >= next_reintroduce) {
        send_raw(client.socket(), client.last_connect_request(), client.server());
        ++r.packets_sent;
        next_reintroduce = Clock::now() + kReintroduceEvery;
      }
      continue;
    }
    auto probe = read_punch(got.bytes, r.info.token);
    if (!probe || probe->stage != PunchStage::Probe || !got.from.same_ip(punched.peer_mapped)) continue;
    r.remote = got.from;
    const Bytes ack = punch(r.info.token, PunchStage::Ack, got.from, ++sequence);
    r.path->send(got.from, ack);
    ++r.packets_sent;
    co_return finish("");
  }
  co_return finish("the peer never reached our relayed address " + r.relayed.to_string());
}

asio::awaitable<Result<std::uint64_t, std::string>> reach_relayed_peer(udp::socket& socket, const PeerInfo& info,
                                                                       TimePoint deadline) {
  if (!info.peer_relayed) co_return fail(std::string("no relayed address in the peer-info"));
  const auto relayed = *info.peer_relayed;
  const auto to = to_endpoint(relayed);
  asio::steady_timer timer(socket.get_executor());
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  std::uint64_t sent = 0;
  std::uint32_t sequence = 0;
  auto next_probe = Clock::now();
  while (Clock::now() < deadline) {
    if (Clock::now() >= next_probe) {
      const Bytes probe = punch(info.token, PunchStage::Probe, relayed, ++sequence);
      send_raw(socket, probe, to);
      ++sent;
      next_probe = Clock::now() + kProbeEvery;
    }
    timer.expires_at(std::min(deadline, next_probe));
    auto r = co_await (socket.async_receive_from(asio::buffer(buf), from, use_nothrow) || timer.async_wait(use_nothrow));
    if (r.index() != 0) continue;
    auto [ec, n] = std::get<0>(r);
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      co_return fail(std::string("stopped"));
    if (ec || from_endpoint(from) != relayed) continue;
    ByteView bytes(buf.data(), n);
    if (!looks_like_stun(bytes)) co_return sent;  // its QUIC Initial: it heard us (and will send it again)
    auto ack = read_punch(bytes, info.token);
    if (ack && ack->stage == PunchStage::Ack) co_return sent;
  }
  co_return fail("the peer's relayed address " + relayed.to_string() + " never answered");
}

}  // namespace natpunch
