// A device's side of the rendezvous protocol over one UDP socket: binding, register, connect, and
// receiving peer-info indications. The protocol is device/RendezvousClientMachine; this drives it
// over the socket it owns, one awaited request at a time (peer-infos that arrive meanwhile queue).
#pragma once

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "device/rendezvous_client_machine.h"
#include "identity/device_key.h"
#include "io/awaitable.h"
#include "wire/control_messages.h"

namespace natpunch {

struct BindingResult {
  SocketAddress mapped;
  std::chrono::microseconds rtt{0};
  int sends = 0;
};

struct RegisterResult {
  RegisterResponse response;
  std::chrono::microseconds rtt{0};
  int sends = 0;
};

class RendezvousClient {
 public:
  RendezvousClient(asio::ip::udp::socket socket, asio::ip::udp::endpoint server, RetransmitPolicy policy);

  asio::awaitable<Result<BindingResult, ClientError>> binding();
  asio::awaitable<Result<RegisterResult, ClientError>> register_device(const RegisterRequest& request);
  // Requests a connection to `peer`; the answer is the peer-info for this side.
  asio::awaitable<Result<PeerInfo, ClientError>> connect(const ConnectRequest& request);
  // Next peer-info indication from the server (queued if it arrived during another transaction).
  asio::awaitable<std::optional<PeerInfo>> wait_peer_info(std::chrono::milliseconds timeout);

  SocketAddress local_address() const;
  asio::ip::udp::socket& socket() { return socket_; }
  const asio::ip::udp::endpoint& server() const { return server_; }
  // Lend the socket to another engine (e.g. the machine driver) and take it back.
  asio::ip::udp::socket take_socket() { return std::move(socket_); }
  void give_socket(asio::ip::udp::socket s) { socket_ = std::move(s); }
  // Datagrams the last request put on the wire (every round and retransmission).
  int last_sends() const { return last_sends_; }
  // The retransmission schedule of the next transactions (e.g. a refresh bounded by its interval).
  RetransmitPolicy& policy() { return machine_.policy(); }
  // Peer-infos dropped because they did not carry a NONCE this client quoted (with a key set):
  // spoofed from the server's address, or from before a server restart.
  std::uint64_t unauthenticated_peer_infos() const { return machine_.unauthenticated_peer_infos(); }
  // Signs NP-REGISTER and NP-CONNECT with `key` (not owned; outlives this client), quoting the
  // server's nonce for our address (taken from its 401/438 answer or its register answer, and reused
  // until it goes stale). Unsigned requests quote it too: it proves we receive at our address.
  void set_key(const DeviceKey* key) { machine_.set_key(key); }
  // The bytes of the last NP-CONNECT request sent. Sent again (same transaction), the server
  // answers it from its duplicate cache and re-sends the peer its NP-PEER-INFO.
  const Bytes& last_connect_request() const { return last_connect_request_; }

 private:
  // Runs the socket and the machine until `txn` is answered (every transaction has a deadline).
  asio::awaitable<ClientAnswer> answer_of(RendezvousClientMachine::Txn txn);
  asio::awaitable<void> send_pending();
  // Waits for one datagram or `until`; hands it (or the time) to the machine. False on timeout.
  asio::awaitable<bool> receive_until(Clock::time_point until);

  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
  asio::ip::udp::endpoint server_;
  RendezvousClientMachine machine_;
  Bytes last_connect_request_;
  int last_sends_ = 0;
};

// Opens a UDP socket of the server's family bound to `bind` (or any address, port 0).
Result<asio::ip::udp::socket, std::string> open_socket(asio::io_context& io, const asio::ip::udp::endpoint& server,
                                                       std::optional<asio::ip::udp::endpoint> bind = std::nullopt);

}  // namespace natpunch
