#include "wire/escape.h"

#include <cstdint>

namespace natpunch {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void escape_byte(std::string& out, unsigned char b) {
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xf];
}

// The length of the well-formed UTF-8 sequence at `s` (RFC 3629 §4), and its code point; 0 if
// the bytes there are not one (overlong forms, surrogates and values above U+10FFFF are not).
std::size_t utf8_char(std::string_view s, std::uint32_t& cp) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf && cont(1)) {
    cp = ((c & 0x1fu) << 6) | (b(1) & 0x3fu);
    return 2;
  }
  if (c >= 0xe0 && c <= 0xef && cont(1) && cont(2)) {
    cp = ((c & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4 && cont(1) && cont(2) && cont(3)) {
    cp = ((c & 0x07u) << 18) | ((b(1) & 0x3fu) << 12) | ((b(2) & 0x3fu) << 6) | (b(3) & 0x3fu);
    if (cp < 0x10000 || cp > 0x10ffff) return 0;
    return 4;
  }
  return 0;
}

bool shown_as_is(std::uint32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return false;       // C0 controls, DEL
  if (cp >= 0x80 && cp <= 0x9f) return false;      // C1 controls (0x9b is a CSI)
  if (cp >= 0x202a && cp <= 0x202e) return false;  // bidi embeddings and overrides
  if (cp >= 0x2066 && cp <= 0x2069) return false;  // bidi isolates
  return true;
}

}  // namespace

std::string escape_for_display(std::string_view text, std::size_t max_input) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_char(text.substr(i), cp);
    if (i + (n == 0 ? 1 : n) > max_input) {
      out += "…";
      break;
    }
    if (n == 0) {
      escape_byte(out, static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (shown_as_is(cp)) {
      out.append(text.substr(i, n));
    } else {
      for (std::size_t k = 0; k < n; ++k) escape_byte(out, static_cast<unsigned char>(text[i + k]));
    }
    i += n;
  }
  return out;
}

bool displayable_as_is(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_char(text.substr(i), cp);
    if (n == 0 || !shown_as_is(cp)) return false;
    i += n;
  }
  return true;
}

}  // namespace natpunch
