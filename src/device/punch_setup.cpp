#include "device/punch_setup.h"

namespace natpunch {

PunchSetup punch_setup_for(const SelfFacts& self, const PeerInfo& info, const PunchTuning& tuning,
                           std::optional<Method> forced, std::uint64_t seed, Bytes reintroduce) {
  PairFacts facts{self.nat,        info.peer_nat,    self.mapped, info.peer_mapped, info.initiator,
                  self.port_mapped, info.peer_port_mapped};
  PunchSetup setup;
  setup.plan = choose_plan(facts, tuning, forced);
  setup.token = info.token;
  setup.self = self.id;
  setup.peer = info.peer;
  setup.server = self.server;
  setup.peer_mapped = info.peer_mapped;
  setup.peer_locals = info.peer_locals;
  setup.peer_port_mapped = info.peer_port_mapped;
  setup.peer_nat = info.peer_nat;
  setup.self_nat = self.nat;
  setup.tuning = tuning;
  setup.seed = seed;
  setup.controlling = info.initiator;
  if (info.initiator) setup.reintroduce = std::move(reintroduce);
  return setup;
}

}  // namespace natpunch
