#include "wire/retransmit.h"

#include <algorithm>

namespace natpunch {

RetransmitPlan plan_retransmissions(const RetransmitPolicy& p) {
  using std::chrono::milliseconds;
  RetransmitPlan plan;
  auto rto = std::max(p.rto, milliseconds{1});
  milliseconds at{0};
  for (int k = 0; k < std::max(p.max_sends, 1); ++k) {
    if (k > 0 && at >= p.deadline) break;
    plan.sends.push_back(at);
    at += rto * (1LL << std::min(k, 20));
  }
  plan.give_up = std::min(plan.sends.back() + rto * p.last_wait_factor, p.deadline);
  plan.give_up = std::max(plan.give_up, plan.sends.back());
  return plan;
}

}  // namespace natpunch
