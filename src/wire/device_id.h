// A device's identity at the rendezvous server (SEEDS.md: a user id such as a phone number, a MAC
// address, or a user name).
//
// NP-DEVICE-ID / NP-PEER-ID value:
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Kind      |          ID (UTF-8, 1-128 bytes) ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/bytes.h"
#include "wire/parse_error.h"
#include "wire/result.h"

namespace natpunch {

enum class IdKind : std::uint8_t { Unspecified = 0, UserId = 1, Mac = 2, UserName = 3 };

inline constexpr std::size_t kMaxIdLength = 128;

struct DeviceId {
  IdKind kind = IdKind::Unspecified;
  std::string value;
  bool operator==(const DeviceId&) const = default;
};

std::string_view to_string(IdKind k);
std::optional<IdKind> parse_id_kind(std::string_view s);  // "user-id" | "mac" | "user-name"

// Validates and normalises an ID (MAC addresses to lower-case aa:bb:cc:dd:ee:ff). Rejects empty,
// over-long, and IDs with control characters. nullopt when invalid.
std::optional<DeviceId> make_device_id(IdKind kind, std::string_view value);

Bytes encode_device_id(const DeviceId& id);
Result<DeviceId, ParseError> decode_device_id(ByteView value);

}  // namespace natpunch
