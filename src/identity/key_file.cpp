#include "identity/key_file.h"

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

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<DeviceKey, KeyFileProblem> parse_key_file(std::string_view text) {
  if (text.size() > kMaxKeyFileSize) return fail(KeyFileProblem{KeyFileError::TooLarge, 0});
  int line_no = 0;
  bool have = false;
  std::array<std::byte, kSeedSize> seed{};
  while (!text.empty()) {
    ++line_no;
    auto end = text.find('\n');
    auto raw = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    for (char c : raw)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
        return fail(KeyFileProblem{KeyFileError::NotText, line_no});
    auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    constexpr std::string_view kKeyword = "secret-seed";
    if (line.substr(0, kKeyword.size()) != kKeyword || line.size() == kKeyword.size() ||
        (line[kKeyword.size()] != ' ' && line[kKeyword.size()] != '\t'))
      return fail(KeyFileProblem{KeyFileError::UnknownLine, line_no});
    if (have) return fail(KeyFileProblem{KeyFileError::DuplicateSeed, line_no});
    auto hex = trim(line.substr(kKeyword.size()));
    if (hex.size() != 2 * kSeedSize) return fail(KeyFileProblem{KeyFileError::BadSeed, line_no});
    for (std::size_t i = 0; i < kSeedSize; ++i) {
      int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return fail(KeyFileProblem{KeyFileError::BadSeed, line_no});
      seed[i] = std::byte(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    have = true;
  }
  if (!have) return fail(KeyFileProblem{KeyFileError::NoSeed, 0});
  auto key = DeviceKey::from_seed(seed);
  seed.fill(std::byte{0});
  return key;
}

std::string format_key_file(const DeviceKey& key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string seed;
  for (auto b : key.seed()) {
    seed += digits[std::to_integer<int>(b) >> 4];
    seed += digits[std::to_integer<int>(b) & 15];
  }
  return "# natpunch device key (Ed25519). Keep it private: mode 0600.\n# public key " + to_hex(key.public_key()) +
         "\nsecret-seed " + seed + "\n";
}

}  // namespace natpunch
