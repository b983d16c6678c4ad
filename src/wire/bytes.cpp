#include "wire/bytes.h"

#include <string>

namespace natpunch {

std::string to_hex(ByteView b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (std::byte x : b) {
    auto v = static_cast<unsigned>(x);
    s.push_back(digits[v >> 4]);
    s.push_back(digits[v & 0xf]);
  }
  return s;
}

std::optional<Bytes> from_hex(std::string_view s) {
  Bytes out;
  int pending = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    else return std::nullopt;
    if (pending < 0) {
      pending = v;
    } else {
      out.push_back(std::byte(pending << 4 | v));
      pending = -1;
    }
  }
  if (pending >= 0) return std::nullopt;
  return out;
}

}  // namespace natpunch
