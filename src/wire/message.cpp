#include "wire/message.h"

#include <algorithm>
#include <cstring>

#include "wire/fingerprint.h"

namespace natpunch {

std::string_view to_string(ParseError e) {
  switch (e) {
    case ParseError::Truncated: return "truncated";
    case ParseError::Oversize: return "oversize";
    case ParseError::NotStun: return "not_stun";
    case ParseError::BadLength: return "bad_length";
    case ParseError::BadAttributeLength: return "bad_attribute_length";
    case ParseError::BadPadding: return "bad_padding";
    case ParseError::TooManyAttributes: return "too_many_attributes";
    case ParseError::BadFingerprint: return "bad_fingerprint";
    case ParseError::UnknownComprehensionRequired: return "unknown_comprehension_required";
    case ParseError::BadAttributeValue: return "bad_attribute_value";
    case ParseError::MissingAttribute: return "missing_attribute";
    case ParseError::WrongMessage: return "wrong_message";
  }
  return "unknown";
}

bool looks_like_stun(ByteView d) {
  if (d.size() < stun::kHeaderSize) return false;
  ByteReader r(d);
  auto type = *r.u16();
  auto length = *r.u16();
  auto cookie = *r.u32();
  // RFC 8489 §5: "The most significant 2 bits of every STUN message MUST be zeroes."
  return (type & 0xC000) == 0 && cookie == stun::kMagicCookie &&
         length + stun::kHeaderSize == d.size() && length % 4 == 0;
}

std::optional<MessageHeader> read_header(ByteView d) {
  ByteReader r(d);
  auto type = r.u16();
  auto length = r.u16();
  auto cookie = r.u32();
  auto txid = r.take(stun::kTransactionIdSize);
  if (!txid || (*type & 0xC000) != 0 || *cookie != stun::kMagicCookie || *length != r.remaining())
    return std::nullopt;
  MessageHeader h{*type, *length, {}};
  std::memcpy(h.transaction.data(), txid->data(), txid->size());
  return h;
}

bool MessageView::has_fingerprint() const {
  return !attributes.empty() && attributes.back().type == stun::attr::kFingerprint;
}

const AttributeView* MessageView::find(std::uint16_t t) const {
  for (const auto& a : attributes) {
    if (a.type == t) return &a;
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kMessageIntegritySha256)
      return nullptr;
  }
  return nullptr;
}

std::vector<const AttributeView*> MessageView::find_all(std::uint16_t t) const {
  std::vector<const AttributeView*> out;
  for (const auto& a : attributes) {
    if (a.type == t) out.push_back(&a);
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kMessageIntegritySha256)
      break;
  }
  return out;
}

static bool understood(std::uint16_t t) {
  const auto& u = stun::attr::kUnderstoodRequired;
  return std::find(u.begin(), u.end(), t) != u.end();
}

std::vector<std::uint16_t> MessageView::unknown_required() const {
  std::vector<std::uint16_t> out;
  for (const auto& a : attributes)
    if (stun::attr::comprehension_required(a.type) && !understood(a.type) &&
        std::find(out.begin(), out.end(), a.type) == out.end())
      out.push_back(a.type);
  return out;
}

Result<MessageView, ParseError> parse_message(ByteView d, const ParseLimits& limits) {
  if (d.size() > limits.max_message) return fail(ParseError::Oversize);
  if (d.size() < stun::kHeaderSize) return fail(ParseError::Truncated);

  ByteReader r(d);
  MessageView m;
  m.raw = d;
  m.type = *r.u16();
  auto length = *r.u16();
  auto cookie = *r.u32();
  // RFC 8489 §5: top two bits zero; §6: the magic cookie field MUST contain 0x2112A442.
  if ((m.type & 0xC000) != 0 || cookie != stun::kMagicCookie) return fail(ParseError::NotStun);
  auto txid = *r.take(stun::kTransactionIdSize);
  std::memcpy(m.transaction.data(), txid.data(), txid.size());
  // RFC 8489 §5: the length "MUST contain the size of the message in bytes, not including the
  // 20-byte STUN header. Since all STUN attributes are padded to a multiple of 4 bytes, the last
  // 2 bits of this field are always zero." A length that is not a multiple of 4 is reported by the
  // attribute walk below, which names the attribute whose padding is missing (BadPadding).
  if (length + stun::kHeaderSize > d.size()) return fail(ParseError::Truncated);
  if (length + stun::kHeaderSize != d.size()) return fail(ParseError::BadLength);

  while (!r.empty()) {
    if (m.attributes.size() >= limits.max_attributes) return fail(ParseError::TooManyAttributes);
    AttributeView a;
    a.offset = r.position();
    auto type = r.u16();
    auto alen = r.u16();
    if (!type || !alen) return fail(ParseError::BadAttributeLength);
    a.type = *type;
    auto value = r.take(*alen);
    if (!value) return fail(ParseError::BadAttributeLength);
    a.value = *value;
    // RFC 8489 §14: the value is padded to a multiple of 4 bytes.
    std::size_t pad = (4 - *alen % 4) % 4;
    auto padding = r.take(pad);
    if (!padding) return fail(ParseError::BadPadding);
    a.padding = *padding;
    m.attributes.push_back(a);
  }

  for (std::size_t i = 0; i < m.attributes.size(); ++i) {
    const auto& a = m.attributes[i];
    if (a.type != stun::attr::kFingerprint) continue;
    // RFC 8489 §14.7: FINGERPRINT "MUST be the last attribute in the message".
    if (i + 1 != m.attributes.size() || a.value.size() != 4) return fail(ParseError::BadFingerprint);
    if (!fingerprint_matches(d, a)) return fail(ParseError::BadFingerprint);
  }

  if (limits.reject_unknown_required && !m.unknown_required().empty())
    return fail(ParseError::UnknownComprehensionRequired);
  return m;
}

}  // namespace natpunch
