#include "device/service_selector.h"

#include <algorithm>

#include "wire/padding.h"

namespace natpunch {

ServiceSelector::ServiceSelector(std::vector<SocketAddress> candidates, TimePoint now, RandomSource random,
                                 Timing timing)
    : candidates_(std::move(candidates)), started_(now), timing_(timing) {
  if (candidates_.size() > kMaxCandidates) candidates_.resize(kMaxCandidates);
  if (candidates_.size() <= 1) {
    chosen_ = 0;
    return;
  }
  for (std::size_t i = 0; i < candidates_.size(); ++i) txids_.push_back(random_transaction_id(random));
  next_send_.resize(candidates_.size());
  step(now);
}

void ServiceSelector::on_datagram(const SocketAddress& from, ByteView bytes, TimePoint now) {
  if (done()) return;
  auto it = std::find(candidates_.begin(), candidates_.end(), from);
  if (it == candidates_.end()) return;
  auto k = static_cast<std::size_t>(it - candidates_.begin());
  if (!next_send_[k]) return;  // never asked
  auto m = parse_message(bytes, answer_limits());
  if (!m || m->method() != stun::method::kBinding || m->cls() != stun::MessageClass::Success ||
      m->transaction != txids_[k])
    return;
  chosen_ = k;
  answered_ = true;
  (void)now;
}

void ServiceSelector::on_timer(TimePoint now) { step(now); }

void ServiceSelector::step(TimePoint now) {
  if (done()) return;
  if (now >= started_ + timing_.limit) {
    chosen_ = 0;  // nobody answered: the first address, as with one
    return;
  }
  for (std::size_t k = 0; k < candidates_.size(); ++k) {
    auto start = started_ + timing_.stagger * static_cast<int>(k);
    if (now < start) break;
    if (next_send_[k] && now < *next_send_[k]) continue;
    // Padded to the answer's size: natpunch's server answers an unproven source no more bytes than
    // it got (wire/padding.h).
    out_.push_back(Out{k, padded_binding_request(txids_[k], candidates_[k].family)});
    next_send_[k] = now + timing_.retransmit;
  }
}

std::optional<TimePoint> ServiceSelector::next_deadline() const {
  if (done()) return std::nullopt;
  TimePoint t = started_ + timing_.limit;
  for (std::size_t k = 0; k < candidates_.size(); ++k) {
    auto at = next_send_[k] ? *next_send_[k] : started_ + timing_.stagger * static_cast<int>(k);
    t = std::min(t, at);
  }
  return t;
}

std::vector<ServiceSelector::Out> ServiceSelector::take_datagrams() { return std::exchange(out_, {}); }

}  // namespace natpunch
