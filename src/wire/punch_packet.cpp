#include "wire/punch_packet.h"

#include <openssl/crypto.h>

#include <cstring>

#include "wire/address_codec.h"
#include "wire/builder.h"

namespace natpunch {

PunchPacket punch_packet(const AttemptToken& token, PunchStage stage, const SocketAddress& target,
                         std::uint32_t sequence) {
  PunchPacket p;
  p.token = token;
  p.stage = stage;
  p.target = target;
  p.sequence = sequence;
  return p;
}

Bytes encode_punch(const PunchPacket& p, const TransactionId& txid) {
  MessageBuilder b(stun::method::kPunch, stun::MessageClass::Indication, txid);
  b.add(stun::attr::kAttemptToken, p.token);
  b.add_u32(stun::attr::kPunchStage, static_cast<std::uint32_t>(p.stage));
  b.add_xor_address(stun::attr::kProbeTarget, p.target);
  if (p.reached_at) b.add_xor_address(stun::attr::kReachedAt, *p.reached_at);
  b.add_u32(stun::attr::kSequence, p.sequence);
  return b.finish();
}

Result<PunchPacket, ParseError> decode_punch(const MessageView& m) {
  if (m.method() != stun::method::kPunch || m.cls() != stun::MessageClass::Indication)
    return fail(ParseError::WrongMessage);
  PunchPacket p;
  const auto* token = m.find(stun::attr::kAttemptToken);
  const auto* stage = m.find(stun::attr::kPunchStage);
  const auto* target = m.find(stun::attr::kProbeTarget);
  const auto* seq = m.find(stun::attr::kSequence);
  if (!token || !stage || !target || !seq) return fail(ParseError::MissingAttribute);
  if (token->value.size() != p.token.size() || stage->value.size() != 4 || seq->value.size() != 4)
    return fail(ParseError::BadAttributeValue);
  std::memcpy(p.token.data(), token->value.data(), p.token.size());
  ByteReader sr(stage->value);
  auto st = *sr.u32();
  if (st < 1 || st > 3) return fail(ParseError::BadAttributeValue);  // 4–7: retired data stages
  p.stage = static_cast<PunchStage>(st);
  auto t = decode_xor_address(target->value, m.transaction);
  if (!t) return fail(t.error());
  p.target = *t;
  if (const auto* seen = m.find(stun::attr::kReachedAt)) {
    auto s = decode_xor_address(seen->value, m.transaction);
    if (!s) return fail(s.error());
    p.reached_at = *s;
  }
  ByteReader qr(seq->value);
  p.sequence = *qr.u32();
  return p;
}

std::optional<PunchPacket> read_punch(ByteView datagram, const AttemptToken& token) {
  if (!looks_like_stun(datagram)) return std::nullopt;
  auto m = parse_message(datagram);
  if (!m) return std::nullopt;
  auto p = decode_punch(*m);
  if (!p) return std::nullopt;
  if (CRYPTO_memcmp(p->token.data(), token.data(), token.size()) != 0) return std::nullopt;
  return std::move(p).value();
}

std::vector<PunchPacket> late_probe_answers(const PunchPacket& received, const SocketAddress& from,
                                            bool on_chosen_path) {
  std::vector<PunchPacket> out;
  if (received.stage != PunchStage::Probe) return out;
  auto ack = punch_packet(received.token, PunchStage::Ack, from, received.sequence);
  ack.reached_at = received.target;  // where the probe reached us, as for any ack
  out.push_back(ack);
  if (on_chosen_path) out.push_back(punch_packet(received.token, PunchStage::Confirm, from, received.sequence));
  return out;
}

}  // namespace natpunch
