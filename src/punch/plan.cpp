#include "punch/plan.h"

#include <cmath>

namespace natpunch {

std::chrono::milliseconds birthday_budget(const PunchTuning& t) {
  double sends = t.ports + t.probes;
  double paced_ms = t.rate_pps > 0 ? sends * 1000.0 / t.rate_pps : 0;
  return std::chrono::milliseconds(static_cast<long long>(paced_ms)) + t.birthday_slack;
}

namespace {

bool open(const std::optional<NatBehavior>& b) { return b && !b->behind_nat; }
bool cone(const std::optional<NatBehavior>& b) { return b && b->is_cone(); }
bool symmetric(const std::optional<NatBehavior>& b) { return b && b->is_symmetric(); }
// A cone whose filter lets in a new port of an address it already sent to (EIF or ADF): a peer
// behind a symmetric NAT reaches it from a fresh mapping without any birthday search.
bool permissive_cone(const std::optional<NatBehavior>& b) {
  return cone(b) && (!b->behind_nat || b->filtering == Dependence::EndpointIndependent ||
                     b->filtering == Dependence::AddressDependent);
}

// The cone side sprays; the symmetric side listens. With both unknown, the initiator sprays.
BirthdayRole birthday_role(const PairFacts& f) {
  if (cone(f.self) && !cone(f.peer)) return BirthdayRole::Sprayer;
  if (cone(f.peer) && !cone(f.self)) return BirthdayRole::Listener;
  if (symmetric(f.self) && !symmetric(f.peer)) return BirthdayRole::Listener;
  if (symmetric(f.peer) && !symmetric(f.self)) return BirthdayRole::Sprayer;
  return f.initiator ? BirthdayRole::Sprayer : BirthdayRole::Listener;
}

}  // namespace

Plan choose_plan(const PairFacts& f, const PunchTuning& t, std::optional<Method> forced) {
  Plan plan;
  auto add = [&](Method m, std::chrono::milliseconds budget) {
    if (forced && *forced != m) return;
    BirthdayRole role = (m == Method::BirthdayListenFirst || m == Method::BirthdaySprayFirst) ? birthday_role(f)
                                                                                              : BirthdayRole::None;
    plan.steps.push_back({m, role, budget});
  };
  bool same_public_ip = f.self_mapped.same_ip(f.peer_mapped) && !f.self_mapped.is_unspecified();

  // 1. Direct: the peer (or we) has no NAT, or both sit behind one public IP (same LAN).
  if (open(f.self) || open(f.peer) || same_public_ip || forced == Method::Direct) add(Method::Direct, t.direct_budget);
  // 2. A router port mapping on either side: the other side sends to it (or answers from it), and
  //    any NAT on the other side lets the answer back in. No spraying.
  bool port_mapped = f.self_port_mapped || f.peer_port_mapped;
  if (port_mapped || forced == Method::PortMapped) add(Method::PortMapped, t.direct_budget);
  // 3. Simultaneous open: enough when both map endpoint-independently, or when a cone's filter
  //    admits the symmetric side's fresh mapping. Also the first guess when behaviour is unknown.
  bool unknown = !f.self || !f.peer || !f.self->known() || !f.peer->known();
  if (unknown || (cone(f.self) && cone(f.peer)) || permissive_cone(f.self) || permissive_cone(f.peer) ||
      forced == Method::Simultaneous)
    add(Method::Simultaneous, t.simultaneous_budget);
  // 4. Birthday: one cone side and one symmetric side (or unknown).
  bool birthday_can_work = unknown || cone(f.self) || cone(f.peer);
  if (birthday_can_work || forced) {
    add(Method::BirthdayListenFirst, birthday_budget(t));
    if (forced == Method::BirthdaySprayFirst) add(Method::BirthdaySprayFirst, birthday_budget(t));
  }
  if (plan.steps.empty() ||
      (!birthday_can_work && !same_public_ip && !open(f.self) && !open(f.peer) && !port_mapped && !forced)) {
    plan.hopeless =
        "both NATs map ports per destination (symmetric: " + std::string(f.self ? short_name(*f.self) : "unknown") +
        " and " + std::string(f.peer ? short_name(*f.peer) : "unknown") +
        "): no direct method can find the pair; this needs a relay or a router port mapping";
    if (!forced) plan.steps.clear();
  }
  return plan;
}

}  // namespace natpunch
