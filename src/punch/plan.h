// Which methods to try for a pair of NATs, cheapest first. Both sides compute the same plan from
// the same inputs (both NAT behaviours and who initiated), so they step through it in lockstep.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "punch/method.h"
#include "wire/address.h"
#include "wire/nat_behavior.h"

namespace natpunch {

struct PlanStep {
  Method method;
  BirthdayRole role = BirthdayRole::None;
  std::chrono::milliseconds budget{0};
};

struct Plan {
  std::vector<PlanStep> steps;
  std::string hopeless;  // non-empty when no direct method can work: why
};

struct PairFacts {
  std::optional<NatBehavior> self;
  std::optional<NatBehavior> peer;
  SocketAddress self_mapped;
  SocketAddress peer_mapped;
  bool initiator = false;
  // Router port mappings (UPnP-IGD, NAT-PMP, PCP) each side registered: reachable from anywhere.
  std::optional<SocketAddress> self_port_mapped;
  std::optional<SocketAddress> peer_port_mapped;
};

// `forced` restricts the plan to one method (the CLI's --method), still with roles assigned.
Plan choose_plan(const PairFacts& facts, const PunchTuning& tuning, std::optional<Method> forced = std::nullopt);

// Time a birthday step needs: both phases paced at the tuning's rate, plus slack.
std::chrono::milliseconds birthday_budget(const PunchTuning& t);

}  // namespace natpunch
