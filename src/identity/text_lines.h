// Line-by-line reading shared by the identity files (the key file, --authorized-keys): lines split
// at '\n', each trimmed of spaces, tabs and a trailing '\r' (files edited on Windows).
#pragma once

#include <string_view>

namespace natpunch {

inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Takes the next raw (untrimmed) line off the front of `text`; false when none is left.
inline bool next_line(std::string_view& text, std::string_view& line) {
  if (text.empty()) return false;
  auto end = text.find('\n');
  line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  return true;
}

}  // namespace natpunch
