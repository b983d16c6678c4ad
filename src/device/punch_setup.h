// From an introduction to a Puncher: the pair's facts, the plan both sides compute alike from them,
// and the Puncher's setup. One function, so the agent, the initiator and the simulator plan from
// the same facts (port mappings included).
#pragma once

#include <cstdint>
#include <optional>

#include "punch/puncher.h"
#include "wire/control_messages.h"

namespace natpunch {

// What this side knows of itself when the peer-info arrives.
struct SelfFacts {
  DeviceId id;
  std::optional<NatBehavior> nat;           // as discovery found it (and registered)
  SocketAddress mapped;                     // its public mapping, from its register answer
  std::optional<SocketAddress> port_mapped;  // the router mapping it registered, if any
  SocketAddress server;                     // the rendezvous server (NP-SIGNAL goes there)
};

// The Puncher's setup (its `plan` is the plan chosen) for the attempt `info` describes. `seed` draws
// ports and transaction IDs (from a strong source in real use, seeded in the simulator);
// `reintroduce` is the initiator's NP-CONNECT request, re-sent while the peer is silent.
PunchSetup punch_setup_for(const SelfFacts& self, const PeerInfo& info, const PunchTuning& tuning,
                           std::optional<Method> forced, std::uint64_t seed, Bytes reintroduce);

}  // namespace natpunch
