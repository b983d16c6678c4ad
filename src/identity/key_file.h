// The device key file: a small text file holding the Ed25519 seed in hex, with comments.
//   # natpunch device key (Ed25519). Keep it private: mode 0600.
//   # public key 5d3f…
//   secret-seed 9f3c…            (64 hex digits)
// Parsing is pure (bytes in, key or a named error with its line out); key_store.h does the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "identity/device_key.h"
#include "wire/result.h"

namespace natpunch {

inline constexpr std::size_t kMaxKeyFileSize = 4096;

enum class KeyFileError : std::uint8_t {
  TooLarge,       // more than kMaxKeyFileSize bytes: not a key file
  NotText,        // a NUL or another control byte
  NoSeed,         // no `secret-seed` line (empty or truncated file)
  DuplicateSeed,  // two `secret-seed` lines
  BadSeed,        // the seed is not exactly 64 hex digits
  UnknownLine,    // a line that is neither blank, a comment, nor `secret-seed …`
};
std::string_view to_string(KeyFileError e);

struct KeyFileProblem {
  KeyFileError error = KeyFileError::NoSeed;
  int line = 0;  // 1-based; 0 for the whole file
  std::string describe() const;
};

Result<DeviceKey, KeyFileProblem> parse_key_file(std::string_view text);
std::string format_key_file(const DeviceKey& key);

}  // namespace natpunch
