#include "identity/authorized_keys.h"

#include "identity/text_lines.h"
#include "wire/device_id.h"

namespace natpunch {

Result<std::map<std::string, PublicKey>, AuthorizedKeysProblem> parse_authorized_keys(std::string_view text) {
  if (text.size() > kMaxAuthorizedKeysFile) return fail(AuthorizedKeysProblem{0, "file too large"});
  std::map<std::string, PublicKey> out;
  int line_no = 0;
  std::string_view raw;
  while (next_line(text, raw)) {
    ++line_no;
    auto line = trim_blanks(raw);
    if (line.empty() || line.front() == '#') continue;
    auto gap = line.find_first_of(" \t");
    if (gap == std::string_view::npos) return fail(AuthorizedKeysProblem{line_no, "expected 'ID PUBLIC-KEY'"});
    auto id = line.substr(0, gap);
    auto key_text = trim_blanks(line.substr(gap));
    for (char c : id)
      if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
        return fail(AuthorizedKeysProblem{line_no, "the ID has a control character"});
    if (id.size() > kMaxIdLength) return fail(AuthorizedKeysProblem{line_no, "the ID is too long"});
    auto key = public_key_from_hex(key_text);
    if (!key) return fail(AuthorizedKeysProblem{line_no, "the key is not 64 hex digits"});
    if (!out.emplace(std::string(id), *key).second)
      return fail(AuthorizedKeysProblem{line_no, "ID '" + std::string(id) + "' listed twice"});
  }
  return out;
}

}  // namespace natpunch
