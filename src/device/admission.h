// Who may connect to this device, decided once per introduction (a peer-info), before a single
// packet goes toward the peer: the allow list, keys pinned per peer, relayed attempts, and the
// per-peer attempt budget. A pinned key is the device's own word on who a peer is: a restarted or
// compromised server that hands the device another key for that ID gets nothing sprayed and no
// session. No I/O, no clock (told the time).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/device_key.h"
#include "punch/spray_budget.h"
#include "wire/clock.h"
#include "wire/control_messages.h"
#include "wire/device_id.h"
#include "wire/result.h"

namespace natpunch {

struct AdmissionPolicy {
  bool allow_any = false;                   // any peer (an open device); pinned keys still apply
  std::vector<DeviceId> allowed;            // peers that may connect, with whatever key the server vouches for
  std::map<std::string, PublicKey> pinned;  // peer ID → the only key it may connect with (implies allowed)
  bool refuse_relayed = false;              // direct paths only
  int attempts_per_minute = 6;              // per peer (SprayBudget)
};

enum class Refusal {
  NotAllowed,         // not in the allow list, and the device is not open
  PinnedKeyMissing,   // the peer is pinned, but the introduction carries no key for it
  PinnedKeyMismatch,  // the introduction's key for the peer is not the pinned one
  RelayedRefused,     // a relayed attempt to a device that refuses them
  RateLimited,        // the peer's attempts for the last minute are spent
};
std::string_view describe(Refusal r);
// The event name the agent logs for a refusal: "rate-limited" for the budget, else "refused".
std::string_view event_name(Refusal r);

struct Admitted {
  // The key the session must pin for the peer: the pinned one, else the one the server vouched for
  // (none for a peer registered without a key: the session is then reported unauthenticated).
  std::optional<PublicKey> peer_key;
};

class Admission {
 public:
  explicit Admission(AdmissionPolicy policy);

  // Checks in this order: allowed, pinned key, relayed, budget; only an admitted attempt spends
  // budget. `server_key` is the introduction's NP-PEER-PUBLIC-KEY.
  Result<Admitted, Refusal> admit(const DeviceId& peer, const std::optional<PublicKey>& server_key, bool relayed,
                                  TimePoint now);

  // What the registration announces (NP-ALLOW), so the server refuses strangers early: the allowed
  // and pinned IDs, or "any" when the device is open or they do not fit in NP-ALLOW (more than 16
  // IDs or 1,024 bytes): then every request reaches the device and it decides alone.
  AllowList announced() const;
  const AdmissionPolicy& policy() const { return policy_; }

 private:
  bool listed(const DeviceId& peer) const;

  AdmissionPolicy policy_;
  SprayBudget budget_;
};

// --allow's value: "ID" or "ID=KEY", split on the last '=' when what follows is a public key (64
// hex digits); otherwise the whole text is the ID (IDs may contain '='). nullopt: not a valid ID.
struct AllowEntry {
  DeviceId id;
  std::optional<PublicKey> key;
};
std::optional<AllowEntry> parse_allow_entry(std::string_view text);

}  // namespace natpunch
