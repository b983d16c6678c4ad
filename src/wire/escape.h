// Bytes from the network, made safe to show: for terminals, logs and JSON (which must be valid
// UTF-8). One helper for every place natpunch prints a reason phrase, an ID or any other text a
// peer or a server chose.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace natpunch {

// Keeps printable ASCII and well-formed UTF-8 characters that are not controls; writes every other
// byte as \xHH (and a backslash as \\), so the result is valid UTF-8 with no C0/C1 control, no DEL
// and no bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069, which can make text read
// in another order than it is). At most `max_input` bytes of `text` are shown; more is cut at a
// character boundary and marked with "…".
std::string escape_for_display(std::string_view text, std::size_t max_input = 256);

// True if escape_for_display would show `text` unchanged but for backslashes: well-formed UTF-8
// without controls or bidirectional formatting. Device IDs must be (wire/device_id.h).
bool displayable_as_is(std::string_view text);

}  // namespace natpunch
