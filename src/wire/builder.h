// Builds STUN messages. Attributes are appended in order, each padded to 4 bytes; finish() adds
// MESSAGE-INTEGRITY (when given a key) and FINGERPRINT (natpunch puts one on every message).
#pragma once

#include <optional>
#include <string_view>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

class MessageBuilder {
 public:
  MessageBuilder(std::uint16_t method, stun::MessageClass cls, const TransactionId& txid);

  MessageBuilder& add(std::uint16_t type, ByteView value);
  // Keeps the given padding bytes instead of zeros (for byte-exact re-encoding of captures).
  MessageBuilder& add_with_padding(std::uint16_t type, ByteView value, ByteView padding);
  MessageBuilder& add_u32(std::uint16_t type, std::uint32_t v);
  MessageBuilder& add_text(std::uint16_t type, std::string_view text);
  MessageBuilder& add_xor_address(std::uint16_t type, const SocketAddress& a);
  MessageBuilder& add_plain_address(std::uint16_t type, const SocketAddress& a);
  MessageBuilder& add_error(int code, std::string_view reason);

  std::size_t size() const { return out_.size(); }
  // Completes the message; the builder is left empty.
  Bytes finish(std::optional<ByteView> integrity_key = std::nullopt, bool fingerprint = true);

 private:
  void set_length();
  TransactionId txid_;
  Bytes out_;
};

}  // namespace natpunch
