#include "server/key_bindings.h"

namespace natpunch {

KeyBindings::KeyBindings(std::size_t max_entries, std::optional<std::map<std::string, PublicKey>> authorized)
    : max_(max_entries), authorized_(std::move(authorized)) {}

KeyBindings::Outcome KeyBindings::check_or_bind(const DeviceId& id, const PublicKey& key) {
  if (authorized_) {
    auto it = authorized_->find(id.value);
    if (it == authorized_->end()) return Outcome::NotAuthorized;
    return it->second == key ? Outcome::Matches : Outcome::Mismatch;
  }
  auto it = bound_.find(id.value);
  if (it != bound_.end()) return it->second == key ? Outcome::Matches : Outcome::Mismatch;
  if (bound_.size() >= max_) return Outcome::Full;
  bound_.emplace(id.value, key);
  return Outcome::Bound;
}

std::optional<PublicKey> KeyBindings::key_of(const DeviceId& id) const {
  if (authorized_) {
    auto it = authorized_->find(id.value);
    if (it == authorized_->end()) return std::nullopt;
    return it->second;
  }
  auto it = bound_.find(id.value);
  if (it == bound_.end()) return std::nullopt;
  return it->second;
}

}  // namespace natpunch
