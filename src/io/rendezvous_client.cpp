#include "io/rendezvous_client.h"

#include "io/endpoint.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/escape.h"
#include "wire/padding.h"

namespace natpunch {

using asio::ip::udp;

RendezvousClient::RendezvousClient(udp::socket socket, udp::endpoint server, RetransmitPolicy policy)
    : client_(std::move(socket)), server_(server), policy_(policy) {
  client_.on_other = [this](ByteView d, const udp::endpoint& from) { on_datagram(d, from); };
}

SocketAddress RendezvousClient::local_address() const {
  asio::error_code ec;
  auto ep = client_.socket().local_endpoint(ec);
  return ec ? SocketAddress{} : from_endpoint(ep);
}

void RendezvousClient::on_datagram(ByteView d, const udp::endpoint& from) {
  // Only the server may send peer-info; anything else on this socket is not ours to handle here.
  if (from != server_) return;
  auto m = parse_message(d);
  if (!m || m->method() != stun::method::kPeerInfo || m->cls() != stun::MessageClass::Indication) return;
  auto info = decode_peer_info(*m);
  if (!info) return;
  if (!nonces_.vouches_for(*info, key_ != nullptr)) {
    ++unauthenticated_peer_infos_;
    return;
  }
  if (peer_infos_.size() < 64) peer_infos_.push_back(*info);
}

asio::awaitable<Result<TransactionOutcome, ClientError>> RendezvousClient::exchange(Bytes request,
                                                                                    const TransactionId& txid) {
  auto r = co_await client_.transact(server_, std::move(request), txid, policy_);
  if (!r) {
    last_sends_ = 0;
    co_return fail(ClientError{
        r.error() == TransactionError::Timeout ? ClientError::Kind::Timeout : ClientError::Kind::Socket, 0, {}});
  }
  last_sends_ = r->sends;
  co_return std::move(r).value();
}

asio::awaitable<Result<TransactionOutcome, ClientError>> RendezvousClient::signed_exchange(
    const std::function<Bytes(const TransactionId&)>& encode, Bytes* sent, ClientRequest kind) {
  int sends = 0;  // over every round: last_sends() counts what this call put on the wire
  for (int round = 0;; ++round) {
    auto txid = random_transaction_id(system_random());
    auto request = encode(txid);
    if (sent) *sent = request;
    auto o = co_await exchange(std::move(request), txid);
    sends += last_sends_;
    last_sends_ = sends;
    if (o) o->sends = sends;
    if (!o) co_return o;
    auto m = parse_message(o->response, answer_limits());
    if (!m || nonces_.after_answer(*m, kind, key_ != nullptr, round) == NonceStep::Done) co_return o;
  }
}

static ClientError malformed(ParseError e) {
  return ClientError{ClientError::Kind::Malformed, 0, std::string(to_string(e))};
}

static Result<MessageView, ClientError> parse_answer(const TransactionOutcome& o) {
  auto m = parse_message(o.response, answer_limits());
  if (!m) return fail(malformed(m.error()));
  if (m->cls() == stun::MessageClass::Error) {
    auto e = decode_error_response(*m);
    if (!e) return fail(malformed(e.error()));
    return fail(ClientError{ClientError::Kind::Rejected, e->code, escape_for_display(e->reason, 128)});
  }
  return *m;
}

asio::awaitable<Result<BindingResult, ClientError>> RendezvousClient::binding() {
  auto txid = random_transaction_id(system_random());
  auto request = padded_binding_request(txid, from_endpoint(server_).family);
  auto o = co_await exchange(std::move(request), txid);
  if (!o) co_return fail(o.error());
  auto m = parse_answer(*o);
  if (!m) co_return fail(m.error());
  auto mapped = mapped_address_of(*m);
  if (!mapped) co_return fail(malformed(mapped.error()));
  co_return BindingResult{*mapped, o->rtt, o->sends};
}

asio::awaitable<Result<RegisterResult, ClientError>> RendezvousClient::register_device(const RegisterRequest& req) {
  auto family = from_endpoint(server_).family;
  auto o = co_await signed_exchange(
      [&](const TransactionId& t) { return registration_request(req, t, family, key_, nonces_.current()); }, nullptr,
      ClientRequest::Register);
  if (!o) co_return fail(o.error());
  auto m = parse_answer(*o);
  if (!m) co_return fail(m.error());
  auto resp = decode_register_response(*m);
  if (!resp) co_return fail(malformed(resp.error()));
  co_return RegisterResult{*resp, o->rtt, o->sends};
}

asio::awaitable<Result<PeerInfo, ClientError>> RendezvousClient::connect(const ConnectRequest& req) {
  auto o = co_await signed_exchange(
      [&](const TransactionId& t) { return connection_request(req, t, key_, nonces_.current()); },
      &last_connect_request_, ClientRequest::Connect);
  if (!o) co_return fail(o.error());
  auto m = parse_answer(*o);
  if (!m) co_return fail(m.error());
  auto info = decode_peer_info(*m);
  if (!info) co_return fail(malformed(info.error()));
  co_return *info;
}

asio::awaitable<std::optional<PeerInfo>> RendezvousClient::wait_peer_info(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (peer_infos_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return std::nullopt;
    co_await client_.receive_other(left);
  }
  auto p = peer_infos_.front();
  peer_infos_.pop_front();
  co_return p;
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
