#include "device/admission.h"

#include <algorithm>

namespace natpunch {

std::string_view describe(Refusal r) {
  switch (r) {
    case Refusal::NotAllowed: return "not in --allow";
    case Refusal::PinnedKeyMissing: return "no key for a peer whose key is pinned (--allow ID=KEY, --allow-keys)";
    case Refusal::PinnedKeyMismatch:
      return "key does not match the one pinned for this peer (--allow ID=KEY, --allow-keys)";
    case Refusal::RelayedRefused: return "relayed attempt (--no-relay)";
    case Refusal::RateLimited: return "more attempts in a minute than --max-sprays-per-minute";
  }
  return "refused";
}

std::string_view event_name(Refusal r) { return r == Refusal::RateLimited ? "rate-limited" : "refused"; }

Admission::Admission(AdmissionPolicy policy) : policy_(std::move(policy)), budget_(policy_.attempts_per_minute) {}

bool Admission::listed(const DeviceId& peer) const {
  // The same comparison as the server's (AllowList::allows), plus the pinned peers.
  return policy_.pinned.count(peer.value) != 0 || AllowList{policy_.allow_any, policy_.allowed}.allows(peer);
}

Result<Admitted, Refusal> Admission::admit(const DeviceId& peer, const std::optional<PublicKey>& server_key,
                                           bool relayed, TimePoint now) {
  if (!listed(peer)) return fail(Refusal::NotAllowed);
  Admitted a{server_key};
  if (auto pin = policy_.pinned.find(peer.value); pin != policy_.pinned.end()) {
    if (!server_key) return fail(Refusal::PinnedKeyMissing);
    if (*server_key != pin->second) return fail(Refusal::PinnedKeyMismatch);
    a.peer_key = pin->second;
  }
  if (relayed && policy_.refuse_relayed) return fail(Refusal::RelayedRefused);
  if (!budget_.take(peer.value, now)) return fail(Refusal::RateLimited);
  return a;
}

AllowList Admission::announced() const {
  AllowList a;
  a.any = policy_.allow_any;
  if (a.any) return a;
  a.peers = policy_.allowed;
  for (const auto& entry : policy_.pinned) {
    const std::string& id = entry.first;  // (clang 14 cannot capture a structured binding)
    bool dup = std::any_of(a.peers.begin(), a.peers.end(), [&](const DeviceId& p) { return p.value == id; });
    if (!dup) {
      auto d = make_device_id(IdKind::Unspecified, id);
      if (d) a.peers.push_back(*d);
    }
  }
  if (a.peers.size() > kMaxAllowedPeers || encode_allow_list(a).size() > kMaxAllowBytes - 1) return AllowList{true, {}};
  return a;
}

std::optional<AllowEntry> parse_allow_entry(std::string_view text) {
  if (auto eq = text.rfind('='); eq != std::string_view::npos) {
    if (auto key = public_key_from_hex(text.substr(eq + 1))) {
      auto id = make_device_id(IdKind::Unspecified, text.substr(0, eq));
      if (!id) return std::nullopt;
      return AllowEntry{*id, *key};
    }
  }
  auto id = make_device_id(IdKind::Unspecified, text);
  if (!id) return std::nullopt;
  return AllowEntry{*id, std::nullopt};
}

}  // namespace natpunch
