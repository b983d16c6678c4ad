// The server's --authorized-keys file: one device per line, "ID HEX-PUBLIC-KEY" (the ID as the
// device registers it, the key as `natpunch key` prints it), '#' comments and blank lines. Pure
// parsing: text in, the map or the first problem with its line out.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "identity/device_key.h"
#include "wire/result.h"

namespace natpunch {

inline constexpr std::size_t kMaxAuthorizedKeysFile = 64 * 1024 * 1024;

struct AuthorizedKeysProblem {
  int line = 0;  // 1-based; 0 for the whole file
  std::string what;
  std::string describe() const { return line ? "line " + std::to_string(line) + ": " + what : what; }
};

Result<std::map<std::string, PublicKey>, AuthorizedKeysProblem> parse_authorized_keys(std::string_view text);

}  // namespace natpunch
