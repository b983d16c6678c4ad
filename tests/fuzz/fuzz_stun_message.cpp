// libFuzzer target for the STUN reader (src/wire): parse_message with the default and a lenient
// set of limits, then every decoder of control_messages.h, address_codec.h, nat_behavior.h and
// punch_packet.h on the result.
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//   - parse_message never reads out of bounds (ASan) and agrees with looks_like_stun;
//   - whatever parses with the default limits also parses with looser limits;
//   - the attribute walk covers the message exactly, and rebuilding the message from its parsed
//     fields (type, transaction, attributes with their padding, FINGERPRINT recomputed) gives
//     back the same bytes;
//   - each successful decode, re-encoded with natpunch's encoders, parses and decodes to the same
//     value (encode ∘ decode is a fixed point).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/integrity.h"
#include "wire/message.h"
#include "wire/nat_behavior.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

// An invariant failed: say which, then abort so libFuzzer saves the input.
[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_stun_message: invariant violated: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) violated(what);
}

// `encoded` must outlive the returned view (it points into it).
MessageView parse_again(const Bytes& encoded, const char* what) {
  auto m = parse_message(encoded);
  check(m.ok(), what);
  check(m->has_fingerprint(), "natpunch's encoders put FINGERPRINT last");
  return std::move(m).value();
}

bool same(const std::vector<SocketAddress>& a, const std::vector<SocketAddress>& b) { return a == b; }

// The attribute walk: every byte after the header belongs to exactly one attribute.
void check_layout(const MessageView& m) {
  std::size_t at = stun::kHeaderSize;
  for (const auto& a : m.attributes) {
    check(a.offset == at, "attributes are contiguous");
    check(a.padding.size() == (4 - a.value.size() % 4) % 4, "padding rounds the value to 4 bytes");
    check(a.value.data() == m.raw.data() + a.offset + 4, "value follows the attribute header");
    at += 4 + a.value.size() + a.padding.size();
  }
  check(at == m.raw.size(), "attributes cover the message exactly");
  check(at % 4 == 0, "message length is a multiple of 4");
}

// Header + attributes (original padding kept) + recomputed FINGERPRINT == the original bytes.
void check_rebuild(const MessageView& m) {
  MessageBuilder b(m.method(), m.cls(), m.transaction);
  for (const auto& a : m.attributes) {
    if (a.type == stun::attr::kFingerprint) continue;  // recomputed by finish()
    b.add_with_padding(a.type, a.value, a.padding);
  }
  Bytes rebuilt = std::move(b).finish(std::nullopt, m.has_fingerprint());
  check(rebuilt.size() == m.raw.size() && std::memcmp(rebuilt.data(), m.raw.data(), rebuilt.size()) == 0,
        "rebuilding a parsed message gives back its bytes");
}

void check_attribute_codecs(const MessageView& m) {
  for (const auto& a : m.attributes) {
    // Addresses: decode → encode → decode is stable and keeps the value's size.
    if (auto x = decode_xor_address(a.value, m.transaction)) {
      Bytes again = encode_xor_address(*x, m.transaction);
      check(again.size() == a.value.size(), "XOR address re-encodes to the same size");
      check(std::memcmp(again.data() + 1, a.value.data() + 1, again.size() - 1) == 0,
            "XOR address re-encodes to the same bytes (reserved byte aside)");
      auto y = decode_xor_address(again, m.transaction);
      check(y.ok() && *y == *x, "XOR address round trip");
    }
    if (auto p = decode_plain_address(a.value)) {
      Bytes again = encode_plain_address(*p);
      check(again.size() == a.value.size(), "address re-encodes to the same size");
      auto q = decode_plain_address(again);
      check(q.ok() && *q == *p, "address round trip");
    }
    if (auto e = decode_error_code(a.value)) {
      check(e->code >= 300 && e->code <= 699, "ERROR-CODE within 300-699");
      Bytes again = encode_error_code(e->code, e->reason);
      auto f = decode_error_code(again);
      check(f.ok() && f->code == e->code && f->reason == e->reason.substr(0, 127), "ERROR-CODE round trip");
    }
    if (auto u = decode_unknown_attributes(a.value)) {
      Bytes again = encode_unknown_attributes(*u);
      check(std::ranges::equal(again, a.value), "UNKNOWN-ATTRIBUTES round trip");
    }
    if (auto nat = decode_nat_behavior(a.value)) {
      auto again = decode_nat_behavior(encode_nat_behavior(*nat));
      check(again.ok() && *again == *nat, "NAT behaviour round trip");
    }
    if (auto allow = decode_allow_list(a.value)) {
      check(allow->peers.size() <= kMaxAllowedPeers && (!allow->any || allow->peers.empty()), "NP-ALLOW bounds");
      auto again = decode_allow_list(encode_allow_list(*allow));
      check(again.ok() && *again == *allow, "NP-ALLOW round trip");
    }
    if (auto id = decode_device_id(a.value)) {
      check(!id->value.empty() && id->value.size() <= kMaxIdLength, "device ID length within bounds");
      auto again = decode_device_id(encode_device_id(*id));
      check(again.ok() && *again == *id, "device ID round trip (normalised form is a fixed point)");
    }
  }
}

void check_control_decoders(const MessageView& m) {
  if (auto r = decode_register_request(m)) {
    check(r->locals.size() <= kMaxLocalAddresses, "register: at most kMaxLocalAddresses locals");
    const Bytes encoded = encode_register_request(*r, m.transaction);
    auto m2 = parse_again(encoded, "re-encoded register request parses");
    auto r2 = decode_register_request(m2);
    check(r2.ok() && r2->id == r->id && same(r2->locals, r->locals) && r2->lifetime_s == r->lifetime_s &&
              r2->nat == r->nat && r2->allow == r->allow,
          "register request round trip");
  }
  if (auto r = decode_register_response(m)) {
    const Bytes encoded = encode_register_response(*r, m.transaction);
    auto m2 = parse_again(encoded, "re-encoded register response parses");
    auto r2 = decode_register_response(m2);
    check(r2.ok() && r2->mapped == r->mapped && r2->lifetime_s == r->lifetime_s, "register response round trip");
  }
  if (auto c = decode_connect_request(m)) {
    const Bytes encoded = encode_connect_request(*c, m.transaction);
    auto m2 = parse_again(encoded, "re-encoded connect request parses");
    auto c2 = decode_connect_request(m2);
    check(c2.ok() && c2->self == c->self && c2->peer == c->peer, "connect request round trip");
  }
  if (auto p = decode_peer_info(m)) {
    const Bytes encoded = encode_peer_info(*p, m.cls(), m.method(), m.transaction);
    auto m2 = parse_again(encoded, "re-encoded peer-info parses");
    auto p2 = decode_peer_info(m2);
    check(p2.ok() && p2->peer == p->peer && p2->peer_mapped == p->peer_mapped && same(p2->peer_locals, p->peer_locals) &&
              p2->token == p->token && p2->initiator == p->initiator && p2->peer_nat == p->peer_nat &&
              p2->peer_key == p->peer_key && p2->nonce == p->nonce,
          "peer-info round trip");
  }
  if (auto e = decode_error_response(m)) {
    auto reason = e->reason.substr(0, 127);
    std::vector<std::uint16_t> unknown;
    if (const auto* u = m.find(stun::attr::kUnknownAttributes))
      if (auto list = decode_unknown_attributes(u->value)) unknown = *list;
    if (unknown.size() <= 64) {
      const Bytes encoded = encode_error_response(m.method(), m.transaction, e->code, reason, unknown);
      auto m2 = parse_again(encoded, "re-encoded error response parses");
      check(m2.type == m.type, "error response keeps method and class");
      auto e2 = decode_error_response(m2);
      check(e2.ok() && e2->code == e->code && e2->reason == reason, "error response round trip");
    }
  }
  if (auto sig = decode_signal(m)) {
    const Bytes encoded = encode_signal(*sig, m.cls(), m.transaction);
    auto m2 = parse_again(encoded, "re-encoded signal parses");
    auto s2 = decode_signal(m2);
    check(s2.ok() && s2->from == sig->from && s2->to == sig->to && s2->token == sig->token && s2->kind == sig->kind &&
              s2->hint == sig->hint,
          "signal round trip");
  }
  if (auto punch = decode_punch(m)) {
    check(punch->stage >= PunchStage::Probe && punch->stage <= PunchStage::Confirm, "punch stage 1..3");
    const Bytes encoded = encode_punch(*punch, m.transaction);
    auto m2 = parse_again(encoded, "re-encoded punch packet parses");
    auto p2 = decode_punch(m2);
    check(p2.ok() && p2->token == punch->token && p2->stage == punch->stage && p2->target == punch->target &&
              p2->reached_at == punch->reached_at && p2->sequence == punch->sequence,
          "punch packet round trip");
    auto read = read_punch(encoded, punch->token);
    check(read.has_value() && read->sequence == punch->sequence, "read_punch accepts an encoded punch packet");
    AttemptToken other = punch->token;
    other[0] ^= std::byte{1};
    check(!read_punch(encoded, other).has_value(), "read_punch ignores another attempt's token");
  }
  (void)mapped_address_of(m);
}

void exercise(const MessageView& m) {
  check_layout(m);
  check_rebuild(m);
  for (auto t : m.unknown_required()) check(stun::attr::comprehension_required(t), "unknown_required lists only < 0x8000");
  for (const auto& a : m.attributes) {
    // (find(MESSAGE-INTEGRITY) returns the attribute itself while find_all stops before it.)
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kMessageIntegritySha256) continue;
    const auto* first = m.find(a.type);
    auto all = m.find_all(a.type);
    check((first == nullptr) == all.empty(), "find and find_all agree");
    if (first) check(first == all.front(), "find returns the first of find_all");
  }
  static const char kPassword[] = "VOkJxbRl1RmTxUk/WvJxBt";  // RFC 5769's, so its vectors verify
  (void)integrity_matches(m, as_bytes(kPassword));
  check_attribute_codecs(m);
  check_control_decoders(m);
}

}  // namespace
}  // namespace natpunch

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  ByteView in(reinterpret_cast<const std::byte*>(data), size);

  auto strict = parse_message(in);
  ParseLimits lenient;
  lenient.max_message = 65535 + stun::kHeaderSize;  // the largest length field
  lenient.max_attributes = 4096;
  lenient.reject_unknown_required = false;
  auto loose = parse_message(in, lenient);

  if (strict) {
    check(looks_like_stun(in), "a parsed message looks like STUN");
    check(loose.ok(), "what parses under the default limits parses under looser ones");
    check(strict->attributes.size() == loose->attributes.size(), "the limits do not change the walk");
    check(strict->unknown_required().empty(), "default limits reject unknown comprehension-required attributes");
  }
  if (loose) exercise(*loose);
  return 0;
}
