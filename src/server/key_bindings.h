// Which identity key each device ID is bound to: the first key that registered the ID (trust on
// first use), or the operator's list (--authorized-keys: only listed IDs, each with its key).
// Bounded; a binding outlives the registration (it is the device's identity, not its address).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "identity/device_key.h"
#include "wire/device_id.h"

namespace natpunch {

class KeyBindings {
 public:
  // `authorized`: ID value → key; when given, no other ID or key is accepted.
  KeyBindings(std::size_t max_entries, std::optional<std::map<std::string, PublicKey>> authorized);

  enum class Outcome { Matches, Bound, Mismatch, NotAuthorized, Full };
  // Checks `key` for `id`, binding it when the ID has no key yet (TOFU mode only).
  Outcome check_or_bind(const DeviceId& id, const PublicKey& key);
  std::optional<PublicKey> key_of(const DeviceId& id) const;
  std::size_t size() const { return bound_.size(); }
  bool authorized_list() const { return authorized_.has_value(); }

 private:
  std::size_t max_;
  std::optional<std::map<std::string, PublicKey>> authorized_;
  std::unordered_map<std::string, PublicKey> bound_;
};

}  // namespace natpunch
