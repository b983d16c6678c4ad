// What a device sends the rendezvous server, and the nonce rules around it (docs/protocol.md,
// docs/security.md): the one encoding of NP-REGISTER and NP-CONNECT that io, the simulator and the
// benchmarks share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "identity/device_key.h"
#include "wire/control_messages.h"
#include "wire/message.h"

namespace natpunch {

enum class ClientRequest : std::uint8_t { Register, Connect };

// NP-REGISTER as a device sends it: signed with `key` when set (quoting `nonce`); unsigned, quoting
// `nonce` when known, and padded so that the server's answer, which carries the nonce for this
// source, fits (the amplification rule: wire/padding.h) — also when quoting one, which may be
// stale (a restarted server): the answer then brings the fresh one.
Bytes registration_request(const RegisterRequest& r, const TransactionId& txid, Family server_family,
                           const DeviceKey* key, const std::optional<std::string>& nonce);
// NP-CONNECT: signed with `key` when set, else quoting `nonce` when known (never padded: its answer
// is small, and without a proven source the server refuses it with the nonce to quote).
Bytes connection_request(const ConnectRequest& r, const TransactionId& txid, const DeviceKey* key,
                         const std::optional<std::string>& nonce);

enum class NonceStep : std::uint8_t { Done, AgainQuotingNonce };

// The server's nonce for this device's address, as the server's answers give it.
class NonceBook {
 public:
  // Takes the server's answer to a request of `kind`, sent for the `round`th time (0 first) by a
  // device that signs (`signing`) or not, quoting `quoted` (what current() was when it was sent:
  // several requests may be in flight, each quoting what it knew). A fresh NONCE is learnt, and
  // the answer says whether the request goes again (a new transaction) quoting it:
  //   - the answer carries the nonce the request quoted: no, nothing new to prove;
  //   - a registration answered with success and another nonce (the first one from this address,
  //     or the server restarted): yes, so the server counts the address as proven before a peer's
  //     connect request needs to reach it;
  //   - a 401 or 438 with another nonce: yes, except an unsigned registration (the ID wants a key);
  //   - anything else, or round 2: no.
  NonceStep after_answer(const MessageView& answer, ClientRequest kind, bool signing, int round,
                         const std::optional<std::string>& quoted);
  // A signing device registered quoting its nonce and the server echoes it in a peer-info: a
  // peer-info without the current or the previous nonce did not come from that server (spoofed
  // from its address, or from before it restarted). An unsigned device takes any.
  bool vouches_for(const PeerInfo& info, bool signing) const;
  const std::optional<std::string>& current() const { return current_; }
  // The server changed (failover): its nonces mean nothing to the next one.
  void forget();

 private:
  std::optional<std::string> current_;
  std::optional<std::string> previous_;  // peer-infos built just before a change quote this one
};

}  // namespace natpunch
