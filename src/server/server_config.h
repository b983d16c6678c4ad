#pragma once

#include <chrono>
#include <cstddef>

namespace natpunch {

struct ServerConfig {
  std::chrono::seconds ttl{60};                  // registration lifetime; refresh = re-register
  std::size_t max_registrations = 1'000'000;     // registry bound
  std::size_t duplicate_cache_entries = 65'536;  // remembered (source, transaction) answers
  std::chrono::seconds duplicate_window{40};     // > RFC 8489's 39.5 s transaction timeout
  std::size_t max_message = 1500;                // frame cap for requests
};

}  // namespace natpunch
