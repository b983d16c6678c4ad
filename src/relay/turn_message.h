// TURN (RFC 8656) numbers and the pieces of its wire format the client needs: ChannelData framing
// (§12.4), the request attributes, and the time-limited credentials of coturn's shared-secret mode
// (the "TURN REST API": username "<expiry>:<id>", password base64(HMAC-SHA1(secret, username))).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/bytes.h"

namespace natpunch::turn {

namespace method {
inline constexpr std::uint16_t kAllocate = 0x003;
inline constexpr std::uint16_t kRefresh = 0x004;
inline constexpr std::uint16_t kSend = 0x006;  // indication
inline constexpr std::uint16_t kData = 0x007;  // indication
inline constexpr std::uint16_t kCreatePermission = 0x008;
inline constexpr std::uint16_t kChannelBind = 0x009;
}  // namespace method

namespace attr {
inline constexpr std::uint16_t kChannelNumber = 0x000C;
inline constexpr std::uint16_t kLifetime = 0x000D;
inline constexpr std::uint16_t kXorPeerAddress = 0x0012;
inline constexpr std::uint16_t kData = 0x0013;
inline constexpr std::uint16_t kXorRelayedAddress = 0x0016;
inline constexpr std::uint16_t kRequestedAddressFamily = 0x0017;
inline constexpr std::uint16_t kRequestedTransport = 0x0019;
inline constexpr std::uint16_t kDontFragment = 0x001A;
}  // namespace attr

inline constexpr std::uint8_t kTransportUdp = 17;
// §12: channel numbers 0x4000–0x4FFF; a binding lasts 10 minutes, a permission 5 (§9, §12).
inline constexpr std::uint16_t kFirstChannel = 0x4000;
inline constexpr std::uint16_t kLastChannel = 0x4FFF;

struct Credentials {
  std::string username;
  std::string password;
};

// coturn `--use-auth-secret --static-auth-secret=SECRET`: credentials valid until `expiry_unix`.
Credentials rest_credentials(std::string_view secret, std::string_view id, std::int64_t expiry_unix);

//   0                   1                   2                   3
//  |         Channel Number        |            Length             |
//  |                       Application Data                        |
// Over UDP the data need not be padded (§12.5); a datagram may carry padding after it.
struct ChannelData {
  std::uint16_t channel = 0;
  ByteView data;
};
// A ChannelData message, when the first two bits are 01 (channel range) and the length fits.
std::optional<ChannelData> parse_channel_data(ByteView datagram);
Bytes encode_channel_data(std::uint16_t channel, ByteView data);

// REQUESTED-TRANSPORT (§18.7): protocol number, then 3 reserved bytes.
Bytes requested_transport_udp();
// CHANNEL-NUMBER (§18.1): number, then 2 reserved bytes.
Bytes channel_number(std::uint16_t channel);
std::optional<std::uint16_t> read_channel_number(ByteView value);

}  // namespace natpunch::turn
