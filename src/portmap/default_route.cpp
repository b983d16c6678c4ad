#include "portmap/default_route.h"

#include <bit>
#include <charconv>
#include <vector>

namespace natpunch {

namespace {

constexpr unsigned kRtfUp = 0x1;  // <linux/route.h>
constexpr unsigned kRtfGateway = 0x2;

std::optional<std::uint32_t> hex32(std::string_view s) {
  std::uint32_t v = 0;
  if (s.empty() || s.size() > 8) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint32_t> dec32(std::string_view s) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size() && out.size() < 16) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// The word as the kernel stored it: its bytes in this host's memory order are the address.
SocketAddress address_of(std::uint32_t word) {
  std::array<std::uint8_t, 4> b{};
  for (int i = 0; i < 4; ++i) {
    int shift = std::endian::native == std::endian::little ? 8 * i : 8 * (3 - i);
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(word >> shift);
  }
  return SocketAddress::v4(b, 0);
}

}  // namespace

std::optional<DefaultRoute> parse_default_route(std::string_view text, std::size_t max_lines) {
  std::optional<DefaultRoute> best;
  std::size_t lines = 0;
  while (!text.empty() && lines++ < max_lines) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto f = fields(line);
    if (f.size() < 8) continue;  // the header line parses as no numbers below
    auto dest = hex32(f[1]);
    auto gw = hex32(f[2]);
    auto flags = hex32(f[3]);
    auto metric = dec32(f[6]);
    auto mask = hex32(f[7]);
    if (!dest || !gw || !flags || !metric || !mask) continue;
    if (*dest != 0 || *mask != 0 || *gw == 0) continue;
    if ((*flags & (kRtfUp | kRtfGateway)) != (kRtfUp | kRtfGateway)) continue;
    if (best && best->metric <= *metric) continue;
    best = DefaultRoute{std::string(f[0]), address_of(*gw), *metric};
  }
  return best;
}

}  // namespace natpunch
