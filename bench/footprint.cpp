// natpunch-bench-footprint: the rendezvous server's memory per registered device and its
// in-process request rate (benchmark 4). Registers K devices through the real RequestHandler
// (each NP-REGISTER from its own source address, as K devices behind K mappings would) and reads
// the heap in use before and after (glibc mallinfo2). The baseline beside it is the payload a
// registration must keep at least: the ID, the mapped address and the local addresses.
//   natpunch-bench-footprint [--devices 100000] [--json]
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "server/request_handler.h"
#include "wire/control_messages.h"
#include "device/rendezvous_requests.h"

namespace {

std::size_t heap_in_use() { return mallinfo2().uordblks; }

}  // namespace

int main(int argc, char** argv) {
  long devices = 100'000;
  bool json = false;
  CLI::App app{"Memory per registered device and in-process register rate of the rendezvous server"};
  app.add_option("--devices", devices, "Devices to register")
      ->check(CLI::Range(1L, 10'000'000L))
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON object: devices, registered, bytes_per_device, payload_bytes, ratio, ...");
  CLI11_PARSE(app, argc, argv);

  using namespace natpunch;
  ServerConfig config;
  config.max_registrations = static_cast<std::size_t>(devices) + 1;
  config.duplicate_cache_entries = 1;  // the cache bounds itself; measure the registry alone
  // 256 devices per source IP, all at one instant: lift the per-IP limits (table 6 of run-bench
  // measures the server with them, over real sockets).
  config.max_registrations_per_ip = config.max_registrations;
  for (auto& limit : config.rate_limits) limit = RateLimit{0, 0};
  std::uint64_t state = 1;
  RequestHandler handler(config, [&](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte(static_cast<std::uint8_t>((state = state * 6364136223846793005ULL + 1) >> 56));
  });
  auto now = TimePoint(std::chrono::seconds(1000));

  // Requests are built first so that their bytes are not counted.
  std::vector<Bytes> requests;
  std::vector<SocketAddress> sources;
  requests.reserve(static_cast<std::size_t>(devices));
  sources.reserve(static_cast<std::size_t>(devices));
  std::size_t payload = 0;
  for (long i = 0; i < devices; ++i) {
    auto id = *make_device_id(IdKind::UserName, "device-" + std::to_string(i));
    auto local = SocketAddress::v4(
        {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)},
        40000);
    TransactionId t{};
    for (std::size_t k = 0; k < 8; ++k) t[k] = std::byte(static_cast<std::uint8_t>(i >> (8 * k)));
    // Padded as natpunch's client sends a first registration, so the answer (with its nonce) fits.
    requests.push_back(registration_request({id, {local}, 600, std::nullopt}, t, Family::V4, nullptr, std::nullopt));
    sources.push_back(SocketAddress::v4({198, static_cast<std::uint8_t>(18 + (i >> 24 & 1)),
                                         static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8)},
                                        static_cast<std::uint16_t>(1024 + (i & 0xff))));
    payload = id.value.size() + 2 * sizeof(SocketAddress);  // ID + mapped + one local address
  }
  auto before = heap_in_use();
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < devices; ++i)
    handler.handle(Datagram{requests[static_cast<std::size_t>(i)], sources[static_cast<std::size_t>(i)], 0}, now);
  auto t1 = std::chrono::steady_clock::now();
  auto after = heap_in_use();
  std::size_t registered = handler.registry().size();
  double per = registered ? static_cast<double>(after - before) / static_cast<double>(registered) : 0;
  double seconds = std::chrono::duration<double>(t1 - t0).count();
  nlohmann::json j = {{"devices", devices},
                      {"registered", registered},
                      {"heap_bytes", after - before},
                      {"bytes_per_device", per},
                      {"payload_bytes", payload},
                      {"ratio", payload ? per / static_cast<double>(payload) : 0},
                      {"registers_per_s_in_process", seconds > 0 ? static_cast<double>(devices) / seconds : 0}};
  if (json)
    std::cout << j.dump() << std::endl;
  else
    std::cout << registered << " devices: " << per << " bytes each (payload " << payload << " bytes, ×"
              << j["ratio"].get<double>() << "), " << j["registers_per_s_in_process"].get<double>()
              << " registers/s in process\n";
  return registered == static_cast<std::size_t>(devices) ? 0 : 1;
}
