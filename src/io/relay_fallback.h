// The last resort when no direct path can be found: the initiator relays through the TURN server
// the rendezvous server offered (its peer-info's TurnGrant, credentials that expire), and the peer
// talks to the initiator's relayed address from its main socket (any NAT lets it reach a public
// relay). Only the initiator allocates: one allocation per connection.
//
//   initiator                          rendezvous server                      peer (agent)
//   GiveUp signal (the punch attempt) ─────────────────────────────────────▶ stops punching
//   Allocate, CreatePermission(peer's public IP) on the relay
//   NP-CONNECT + NP-RELAYED ─────────▶ (only an address on the offered relay)
//                                      NP-PEER-INFO + NP-PEER-RELAYED ──────▶
//   ◀────────────── probes (attempt token) through the relay, from whatever port its NAT picked
//   ack through the relay ─────────────────────────────────────────────────▶
//   QUIC client toward the peer's address as the relay sees it; the peer is the QUIC server.
#pragma once

#include <memory>
#include <string>

#include "io/relay_path.h"
#include "io/rendezvous_client.h"

namespace natpunch {

struct RelayedAttempt {
  std::unique_ptr<RelayPath> path;  // set on success (and closed by its owner when done)
  SocketAddress relayed;            // our relayed address on the TURN server
  SocketAddress remote;             // the peer, as the relay sees it
  PeerInfo info;                    // the relayed attempt's peer-info (its token; the peer's key)
  std::string error;                // empty on success
  std::uint64_t packets_sent = 0;
  std::chrono::milliseconds elapsed{0};
};

// The initiator's side. `punched` is the peer-info of the attempt that failed (or was skipped): its
// TURN grant is used and its punching stopped (GiveUp). Bounded by `deadline`.
asio::awaitable<RelayedAttempt> open_relayed_path(RendezvousClient& client, const DeviceId& self,
                                                  const PeerInfo& punched, TimePoint deadline);

// The peer's side for a peer-info carrying peer_relayed: probes the initiator's relayed address
// from `socket` until it answers (an ack, or its QUIC Initial), bounded by `deadline`. The session
// then runs on `socket` toward that address.
asio::awaitable<Result<std::uint64_t, std::string>> reach_relayed_peer(asio::ip::udp::socket& socket,
                                                                       const PeerInfo& info, TimePoint deadline);

}  // namespace natpunch
