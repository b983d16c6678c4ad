#include "relay/turn_message.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

namespace natpunch::turn {

Credentials rest_credentials(std::string_view secret, std::string_view id, std::int64_t expiry_unix) {
  Credentials c;
  c.username = std::to_string(expiry_unix) + ":" + std::string(id);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(c.username.data()), c.username.size(), mac.data(), &len);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> b64{};
  int n = EVP_EncodeBlock(b64.data(), mac.data(), static_cast<int>(len));
  c.password.assign(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
  return c;
}

std::optional<ChannelData> parse_channel_data(ByteView d) {
  ByteReader r(d);
  auto channel = r.u16();
  auto length = r.u16();
  if (!channel || !length || *channel < kFirstChannel || *channel > kLastChannel) return std::nullopt;
  auto data = r.take(*length);
  // §12.5: anything after the data is padding (at most 3 bytes).
  if (!data || r.remaining() > 3) return std::nullopt;
  return ChannelData{*channel, *data};
}

Bytes encode_channel_data(std::uint16_t channel, ByteView data) {
  Bytes out;
  out.reserve(4 + data.size());
  ByteWriter w(out);
  w.u16(channel);
  w.u16(static_cast<std::uint16_t>(data.size()));
  w.bytes(data);
  return out;
}

Bytes requested_transport_udp() {
  return Bytes{std::byte{kTransportUdp}, std::byte{0}, std::byte{0}, std::byte{0}};
}

Bytes channel_number(std::uint16_t channel) {
  Bytes out;
  ByteWriter w(out);
  w.u16(channel);
  w.u16(0);
  return out;
}

std::optional<std::uint16_t> read_channel_number(ByteView value) {
  if (value.size() != 4) return std::nullopt;
  ByteReader r(value);
  return r.u16();
}

}  // namespace natpunch::turn
