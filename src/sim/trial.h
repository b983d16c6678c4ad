// One connection attempt between two simulated devices, end to end: both register with the real
// rendezvous request handler through their NATs (reporting their NAT behaviour, as the agent
// does after discovery), one sends NP-CONNECT, and both run a Puncher from the PeerInfo each side
// got (the initiator's from the connect response, the other's from the NP-PEER-INFO indication),
// concurrently, with the server relaying their NP-SIGNALs. The building block of `simulate`.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "punch/puncher.h"
#include "sim/runner.h"

namespace natpunch::sim {

// The lab's NAT types (lab/lib/nat_rules.sh, docs/lab.md) by name: "open", "full-cone",
// "restricted-cone", "port-restricted-cone", "port-restricted-cone-random", "symmetric-random",
// "symmetric-random-narrow", "symmetric-sequential", "symmetric-preserve-first".
std::optional<NatConfig> lab_nat(std::string_view name);

struct PeerSpec {
  NatConfig nat;                 // behind_nat = false: a host with a public address
  std::uint16_t local_port = 0;  // of the main socket; 0 = an ephemeral port
  bool report_nat = true;        // false: registers without NAT behaviour (unknown)
  // true: runs the real RFC 5780 discovery (nat/nat_discovery.h) through its NAT against the
  // server's four sockets first and registers what it found, as the agent does; false: registers
  // the ideal reported_behavior(nat) without spending the packets.
  bool discover = false;
  std::optional<NatBehavior> reported;  // what it registers instead (overrides both)
};

struct TrialConfig {
  PeerSpec a, b;
  bool same_lan = false;  // b sits behind a's NAT (a's site), on the same LAN
  bool a_initiates = true;
  PunchTuning tuning;
  std::optional<Method> forced;
  std::uint64_t seed = 1;
  std::chrono::microseconds one_way{10'000};
  std::chrono::microseconds jitter{0};          // NetworkConfig::jitter
  std::chrono::milliseconds extra_time{5'000};  // virtual time allowed beyond the plans' budgets
};

struct Introduction {
  bool ok = false;
  std::string error;
  PeerInfo a_info, b_info;           // what each side learned about the other
  SocketAddress a_mapped, b_mapped;  // each side's own mapping, from its register response
  TimePoint a_at{}, b_at{};          // when each side got its PeerInfo
  Bytes connect_request;             // the initiator's NP-CONNECT (for re-introduction)
  int retransmissions = 0;
};

// Registers a and b from their main sockets and introduces them (retransmitting lost requests).
Introduction introduce(Runner& runner, SocketId a_main, SocketId b_main, std::optional<NatBehavior> a_nat,
                       std::optional<NatBehavior> b_nat, bool a_initiates, std::uint64_t seed);

struct TrialSide {
  PunchOutcome outcome;
  Plan plan;
  bool finished = false;
  SocketId path_socket = 0;
  // The public address of the path's socket toward outcome.remote on this side's NAT (what the
  // other side must have as its remote).
  std::optional<SocketAddress> path_public;
  MachineStats stats;
};

struct TrialResult {
  std::optional<NatBehavior> a_registered, b_registered;  // what each side registered
  Introduction intro;
  TrialSide a, b;
  NetworkStats net;
  bool stuck = false;
  std::chrono::milliseconds elapsed{0};  // virtual time from the connect request to the end
  std::uint64_t signals_relayed = 0;
  bool ok() const { return a.outcome.ok && b.outcome.ok; }
};

TrialResult run_trial(const TrialConfig& config);

}  // namespace natpunch::sim
