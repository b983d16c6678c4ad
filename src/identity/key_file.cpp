#include "identity/key_file.h"

#include <algorithm>

#include "identity/text_lines.h"

namespace natpunch {

std::string_view to_string(KeyFileError e) {
  switch (e) {
    case KeyFileError::TooLarge: return "too large to be a key file";
    case KeyFileError::NotText: return "not a text file";
    case KeyFileError::NoSeed: return "no 'secret-seed' line (empty or truncated?)";
    case KeyFileError::DuplicateSeed: return "more than one 'secret-seed' line";
    case KeyFileError::BadSeed: return "the secret seed is not 64 hex digits";
    case KeyFileError::UnknownLine: return "unexpected line (only comments, blank lines and 'secret-seed HEX')";
  }
  return "unknown key file error";
}

std::string KeyFileProblem::describe() const {
  std::string s(to_string(error));
  if (line > 0) s = "line " + std::to_string(line) + ": " + s;
  return s;
}

Result<DeviceKey, KeyFileProblem> parse_key_file(std::string_view text) {
  if (text.size() > kMaxKeyFileSize) return fail(KeyFileProblem{KeyFileError::TooLarge, 0});
  int line_no = 0;
  bool have = false;
  std::array<std::byte, kSeedSize> seed{};
  std::string_view raw;
  while (next_line(text, raw)) {
    ++line_no;
    for (char c : raw)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
        return fail(KeyFileProblem{KeyFileError::NotText, line_no});
    auto line = trim_blanks(raw);
    if (line.empty() || line.front() == '#') continue;
    constexpr std::string_view kKeyword = "secret-seed";
    if (line.substr(0, kKeyword.size()) != kKeyword || line.size() == kKeyword.size() ||
        (line[kKeyword.size()] != ' ' && line[kKeyword.size()] != '\t'))
      return fail(KeyFileProblem{KeyFileError::UnknownLine, line_no});
    if (have) return fail(KeyFileProblem{KeyFileError::DuplicateSeed, line_no});
    auto hex = trim_blanks(line.substr(kKeyword.size()));
    auto bytes = hex.size() == 2 * kSeedSize ? from_hex(hex) : std::nullopt;
    if (!bytes || bytes->size() != kSeedSize) return fail(KeyFileProblem{KeyFileError::BadSeed, line_no});
    std::copy(bytes->begin(), bytes->end(), seed.begin());
    std::fill(bytes->begin(), bytes->end(), std::byte{0});
    have = true;
  }
  if (!have) return fail(KeyFileProblem{KeyFileError::NoSeed, 0});
  auto key = DeviceKey::from_seed(seed);
  seed.fill(std::byte{0});
  return key;
}

std::string format_key_file(const DeviceKey& key) {
  return "# natpunch device key (Ed25519). Keep it private: mode 0600.\n# public key " + to_hex(key.public_key()) +
         "\nsecret-seed " + to_hex(key.seed()) + "\n";
}

}  // namespace natpunch
