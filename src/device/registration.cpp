#include "device/registration.h"

#include <algorithm>

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

RegistrationChange RegistrationState::on_registered(TimePoint now, const SocketAddress& mapped,
                                                    std::chrono::seconds lifetime) {
  RegistrationChange c;
  c.first = !registered_;
  if (registered_ && mapped != mapped_) c.previous_mapping = mapped_;
  if (unreachable_since_) c.back_after = duration_cast<milliseconds>(now - *unreachable_since_);
  unreachable_since_.reset();
  registered_ = true;
  mapped_ = mapped;
  lifetime_ = lifetime;
  refresh_at_ = now + interval();
  return c;
}

void RegistrationState::on_failed(TimePoint started, TimePoint now, bool timed_out) {
  if (!unreachable_since_) unreachable_since_ = started;
  refresh_at_ = timed_out ? now : now + interval();
}

milliseconds RegistrationState::interval() const {
  return std::max(min_interval_, duration_cast<milliseconds>(lifetime_) / 3);
}

void PortMappingState::on_mapped(MappedPort m, TimePoint now) {
  renew_at_ = now + m.lifetime / 2;
  mapping_ = std::move(m);
  note_.clear();
}

void PortMappingState::on_failed(std::string note) {
  mapping_.reset();
  note_ = std::move(note);
}

std::optional<SocketAddress> PortMappingState::advertised(const SocketAddress& mapped) const {
  if (!mapping_) return std::nullopt;
  if (!mapped.is_unspecified() && !mapping_->external.same_ip(mapped)) return std::nullopt;
  return mapping_->external;
}

}  // namespace natpunch
