// natpunch-bench-load --kind devices: the rendezvous server under a population of devices (issue 6).
// Registers --devices devices, spread round-robin over one UDP socket per loopback source IP
// (127.1.x.y: --source-ips of them, so the server's per-IP caps and rate limits see realistic
// sources), each socket proving its address first (padded registration, then quoting the nonce as
// natpunch's client does). Registrations are paced so each IP stays under --register-rate-per-ip.
// Then it issues --connect-rate NP-CONNECT requests per second for --duration seconds between
// random registered devices and checks every answer: a success whose peer is the one asked for,
// plus the NP-PEER-INFO indication arriving at the peer's socket with the same token. A 404 or 410
// means a registration was lost. Requests are retransmitted (same transaction) after --rto-ms, at
// most 5 times. With --server-pid it samples the server's resident memory (VmRSS) every second.
// Loopback only.
#pragma once

#include <string>

namespace natpunch::bench {

struct DeviceLoadOptions {
  std::string target;
  long devices = 100'000;
  int source_ips = 500;
  double register_rate_per_ip = 15;  // under the server's default 20/s (burst 40)
  double connect_rate = 1000;
  double duration = 60;
  double warmup = 10;  // seconds of the connect phase before the "after warm-up" memory sample
  int rto_ms = 500;
  int server_pid = 0;
  bool json = false;
};

// Prints the figures; returns 0 when every check held (nothing lost, server alive), 1 otherwise.
int run_device_load(const DeviceLoadOptions& o);

}  // namespace natpunch::bench
