// escape_for_display over arbitrary bytes (wire/escape.h): the result is valid UTF-8 with no C0/C1
// control, DEL or bidirectional formatting character, and text that needs no escaping is shown as
// it is. displayable_as_is agrees with it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/escape.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out = natpunch::escape_for_display(in, 512);
  // Whatever went in, what comes out is displayable (the escape of a backslash is two of them).
  if (!natpunch::displayable_as_is(out)) std::abort();
  // Text that is displayable and shorter than the cap comes out unchanged (but for backslashes).
  if (size <= 512 && natpunch::displayable_as_is(in) && in.find('\\') == std::string_view::npos && out != in)
    std::abort();
  return 0;
}
