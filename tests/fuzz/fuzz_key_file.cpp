// libFuzzer target for the device key file parser: any bytes give a key or a named error with a
// line inside the text, never a crash; a parsed key formats and re-parses to the same key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "identity/key_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = natpunch::parse_key_file(text);
  if (!r) {
    if (r.error().line < 0 || static_cast<std::size_t>(r.error().line) > size + 1) std::abort();
    if (r.error().describe().empty()) std::abort();
    return 0;
  }
  auto again = natpunch::parse_key_file(natpunch::format_key_file(*r));
  if (!again || again->public_key() != r->public_key()) std::abort();
  return 0;
}
