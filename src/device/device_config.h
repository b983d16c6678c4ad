// What a device is and how it behaves, for the device machine (device_machine.h): its ID and key,
// its server, its addresses, and the policy numbers. Filled by the CLI from options, by the library
// from its config, by the simulator from a scenario.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "device/admission.h"
#include "device/attempt.h"
#include "device/session_host.h"
#include "identity/device_key.h"
#include "punch/method.h"
#include "wire/address.h"
#include "wire/control_messages.h"
#include "wire/device_id.h"
#include "wire/random_source.h"
#include "wire/retransmit.h"

namespace natpunch {

struct DeviceConfig {
  DeviceId id;
  const DeviceKey* key = nullptr;  // signs register and connect; not owned, outlives the machine
  SocketAddress server;            // the rendezvous server (its primary address)
  SocketAddress main_local;        // the main socket's local address (its port matters)
  // This host's addresses with the main socket's port, reported to the server (NP-LOCAL-ADDRESS,
  // at most kMaxLocalAddresses, the server's family only) and used by discovery to tell "no NAT".
  std::vector<SocketAddress> local_addresses;
  bool discover = true;  // RFC 5780 discovery before registering, and again when the mapping changes
  // Who may connect, and how often (registered as NP-ALLOW: Admission::announced()). Nobody by
  // default (a device that only connects).
  AdmissionPolicy admission;
  std::optional<std::uint32_t> lifetime_s;  // asked for; the server may grant less
  // Ask the router for a port mapping of the main socket (the driver says how); never for a
  // loopback server (no router is involved).
  bool port_mapping = false;
  std::chrono::seconds port_mapping_lifetime{3600};
  // How long the first registration waits for the router's answer (after discovery); a mapping
  // that comes later is registered then.
  std::chrono::milliseconds port_mapping_wait{5000};
  RetransmitPolicy policy{std::chrono::milliseconds(250), 7, 16, std::chrono::milliseconds(8000)};
  std::chrono::milliseconds min_refresh{1000};  // the refresh period is a third of the lifetime, at least this
  // Punching.
  PunchTuning tuning;
  std::optional<Method> forced;  // only this method (tests, the lab grid)
  AttemptTiming attempt_timing;
  std::size_t max_attempts = 8;    // punching at once; one more is told "busy"
  std::size_t max_sessions = 64;   // sessions at once (closing ones excluded); one more is told "busy"
  // Extra sockets at once (attempts and discovery). A plan with a birthday step in which this side
  // listens opens its N (256) sockets when the attempt starts: 4,096 leave room for --max-attempts
  // such attempts and discovery. The driver caps it by the file descriptor limit.
  std::size_t max_sockets = 4096;
  // A finished attempt keeps answering late probes on its path this long (its peer lost a confirm).
  std::chrono::milliseconds linger{10'000};
  // A relayed introduction (the initiator waits at a TURN relayed address): how long to probe it.
  std::chrono::milliseconds relay_reach{10'000};
  // Sessions: keepalive, idle timeout, the responder's handshake timeout.
  SessionPolicy session;
  RandomSource random;  // transaction IDs, attempt seeds, connection IDs; unset: system_random()
};

}  // namespace natpunch
