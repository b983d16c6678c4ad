// libFuzzer target for the server's --authorized-keys parser: a map or a problem with a line inside
// the text, never a crash; every parsed key is 32 bytes under a non-empty ID without spaces.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "identity/authorized_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = natpunch::parse_authorized_keys(text);
  if (!r) {
    if (r.error().line < 0 || static_cast<std::size_t>(r.error().line) > size + 1 || r.error().what.empty())
      std::abort();
    return 0;
  }
  for (const auto& [id, key] : *r)
    if (id.empty() || id.find_first_of(" \t\n") != std::string::npos) std::abort();
  return 0;
}
