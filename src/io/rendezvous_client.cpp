#include "io/rendezvous_client.h"

#include <array>

#include "io/endpoint.h"

namespace natpunch {

using asio::ip::udp;

namespace {
RendezvousClientConfig config_for(const udp::endpoint& server, RetransmitPolicy policy) {
  RendezvousClientConfig c;
  c.server = from_endpoint(server);
  c.policy = policy;
  return c;
}
}  // namespace

RendezvousClient::RendezvousClient(udp::socket socket, udp::endpoint server, RetransmitPolicy policy)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server),
      machine_(config_for(server, policy)) {}

SocketAddress RendezvousClient::local_address() const {
  asio::error_code ec;
  auto ep = socket_.local_endpoint(ec);
  return ec ? SocketAddress{} : from_endpoint(ep);
}

asio::awaitable<void> RendezvousClient::send_pending() {
  for (auto& d : machine_.take_datagrams()) {
    auto [ec, n] = co_await socket_.async_send_to(asio::buffer(d.bytes), to_endpoint(d.to), use_nothrow);
    // ICMP port unreachable from an earlier send surfaces as connection_refused: not this send's fault.
    if (ec && ec != asio::error::connection_refused) machine_.on_socket_error();
  }
}

asio::awaitable<bool> RendezvousClient::receive_until(Clock::time_point until) {
  std::array<std::byte, 4096> buf{};
  udp::endpoint from;
  bool received = false;
  while (!received) {
    timer_.expires_at(until);
    auto result = co_await (socket_.async_receive_from(asio::buffer(buf), from, use_nothrow) ||
                            timer_.async_wait(use_nothrow));
    auto now = Clock::now();
    if (result.index() == 0) {
      auto [ec, n] = std::get<0>(result);
      // ICMP port unreachable from an earlier send surfaces as connection_refused: keep waiting.
      if (ec == asio::error::connection_refused && now < until) continue;
      if (ec) {
        if (ec != asio::error::connection_refused) machine_.on_socket_error();
        break;
      }
      // Not the machine's (a late duplicate, or not from the server): nobody else reads here.
      (void)machine_.on_datagram(ByteView(buf.data(), n), from_endpoint(from), now);
      received = true;
    }
    if (auto due = machine_.next_deadline(); due && *due <= now) machine_.on_timer(now);
    if (result.index() == 1 || now >= until) break;
  }
  co_return received;
}

asio::awaitable<ClientAnswer> RendezvousClient::answer_of(RendezvousClientMachine::Txn txn) {
  for (;;) {
    co_await send_pending();
    for (auto& a : machine_.take_answers()) {
      if (a.txn != txn) continue;
      last_sends_ = a.sends;
      co_return std::move(a);
    }
    auto due = machine_.next_deadline();
    if (!due) {  // cannot happen while txn is pending: every transaction has a deadline
      last_sends_ = 0;
      co_return ClientAnswer{txn, fail(ClientError{ClientError::Kind::Timeout, 0, {}}), 0, {}};
    }
    co_await receive_until(*due);
  }
}

asio::awaitable<Result<BindingResult, ClientError>> RendezvousClient::binding() {
  auto a = co_await answer_of(machine_.binding(Clock::now()));
  if (!a.result) co_return fail(a.result.error());
  co_return BindingResult{std::get<SocketAddress>(*a.result), a.rtt, a.sends};
}

asio::awaitable<Result<RegisterResult, ClientError>> RendezvousClient::register_device(const RegisterRequest& req) {
  auto a = co_await answer_of(machine_.register_device(req, Clock::now()));
  if (!a.result) co_return fail(a.result.error());
  co_return RegisterResult{std::get<RegisterResponse>(*a.result), a.rtt, a.sends};
}

asio::awaitable<Result<PeerInfo, ClientError>> RendezvousClient::connect(const ConnectRequest& req) {
  auto txn = machine_.connect(req, Clock::now());
  auto a = co_await answer_of(txn);
  last_connect_request_ = machine_.request_bytes(txn);
  if (!a.result) co_return fail(a.result.error());
  co_return std::get<PeerInfo>(std::move(*a.result));
}

asio::awaitable<std::optional<PeerInfo>> RendezvousClient::wait_peer_info(std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  for (;;) {
    if (auto p = machine_.take_peer_info()) co_return p;
    if (Clock::now() >= until) co_return std::nullopt;
    // False before `until`: the socket failed (it would fail again at once).
    if (!co_await receive_until(until) && Clock::now() < until) co_return machine_.take_peer_info();
  }
}

Result<udp::socket, std::string> open_socket(asio::io_context& io, const udp::endpoint& server,
                                             std::optional<udp::endpoint> bind) {
  udp::socket s(io);
  asio::error_code ec;
  auto protocol = bind ? bind->protocol() : server.protocol();
  s.open(protocol, ec);
  if (!ec) s.bind(bind ? *bind : udp::endpoint(protocol, 0), ec);
  if (ec) return fail("cannot open UDP socket: " + ec.message());
  return s;
}

}  // namespace natpunch
