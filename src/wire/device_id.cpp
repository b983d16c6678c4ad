#include "wire/device_id.h"

#include <cctype>

#include "wire/escape.h"

namespace natpunch {

std::string_view to_string(IdKind k) {
  switch (k) {
    case IdKind::Unspecified: return "unspecified";
    case IdKind::UserId: return "user-id";
    case IdKind::Mac: return "mac";
    case IdKind::UserName: return "user-name";
  }
  return "unspecified";
}

std::optional<IdKind> parse_id_kind(std::string_view s) {
  if (s == "user-id") return IdKind::UserId;
  if (s == "mac") return IdKind::Mac;
  if (s == "user-name") return IdKind::UserName;
  if (s == "unspecified") return IdKind::Unspecified;
  return std::nullopt;
}

static std::optional<std::string> normalise_mac(std::string_view v) {
  if (v.size() != 17) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (i % 3 == 2) {
      if (c != ':' && c != '-') return std::nullopt;
      out.push_back(':');
    } else {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

std::optional<DeviceId> make_device_id(IdKind kind, std::string_view value) {
  if (value.empty() || value.size() > kMaxIdLength) return std::nullopt;
  if (static_cast<std::uint8_t>(kind) > 3) return std::nullopt;
  // UTF-8 without controls or bidirectional formatting: an ID is printed and logged as it is.
  if (!displayable_as_is(value)) return std::nullopt;
  if (kind == IdKind::Mac) {
    auto mac = normalise_mac(value);
    if (!mac) return std::nullopt;
    return DeviceId{kind, *mac};
  }
  return DeviceId{kind, std::string(value)};
}

Bytes encode_device_id(const DeviceId& id) {
  Bytes b;
  ByteWriter w(b);
  w.u8(static_cast<std::uint8_t>(id.kind));
  w.text(id.value);
  return b;
}

Result<DeviceId, ParseError> decode_device_id(ByteView value) {
  ByteReader r(value);
  auto kind = r.u8();
  if (!kind) return fail(ParseError::BadAttributeValue);
  auto id = make_device_id(static_cast<IdKind>(*kind), as_text(*r.take(r.remaining())));
  if (!id) return fail(ParseError::BadAttributeValue);
  return *id;
}

}  // namespace natpunch
