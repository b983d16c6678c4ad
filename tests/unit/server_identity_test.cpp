// The server's identity gate: trust on first use, signatures over the request, nonces bound to the
// source address (no replay from elsewhere), refusals counted; unsigned legacy devices unaffected.
#include <gtest/gtest.h>

#include "identity/signed_request.h"
#include "server/request_handler.h"
#include "wire/address_codec.h"
#include "wire/control_messages.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

class IdentityTest : public ::testing::Test {
 protected:
  IdentityTest() : handler_(ServerConfig{}, seq_random()) {}
  static RandomSource seq_random() {
    auto n = std::make_shared<std::uint8_t>(0);
    return [n](std::span<std::byte> out) {
      for (auto& b : out) b = std::byte{++*n};
    };
  }
  TransactionId next_txid() {
    TransactionId t{};
    ++tx_;
    t[0] = std::byte{static_cast<std::uint8_t>(tx_)};
    t[1] = std::byte{static_cast<std::uint8_t>(tx_ >> 8)};
    return t;
  }
  Bytes register_bytes(const char* id, const DeviceKey* key, std::optional<std::string> nonce) {
    RegisterRequest r{*make_device_id(IdKind::UserName, id), {addr("10.0.0.9:1000")}, std::nullopt};
    auto plain = encode_register_request(r, next_txid());
    return key ? sign_request(plain, *key, nonce) : plain;
  }
  Bytes connect_bytes(const char* self, const char* peer, const DeviceKey* key, std::optional<std::string> nonce) {
    auto plain = encode_connect_request(
        {*make_device_id(IdKind::UserName, self), *make_device_id(IdKind::UserName, peer)}, next_txid());
    return key ? sign_request(plain, *key, nonce) : plain;
  }
  // The reply's class, error code (0 when none) and NONCE (when any).
  struct Answer {
    stun::MessageClass cls = stun::MessageClass::Request;
    int code = 0;
    std::optional<std::string> nonce;
  };
  Answer send(const Bytes& b, const char* from, TimePoint now) {
    auto r = handler_.handle(Datagram{b, addr(from), 0}, now);
    EXPECT_GE(r.size(), 1u);
    if (r.empty()) return {};
    keep_ = r[0].bytes;
    auto m = *parse_message(keep_);
    Answer a{m.cls(), 0, std::nullopt};
    if (auto e = decode_error_response(m)) a.code = e->code;
    if (const auto* n = m.find(stun::attr::kNonce))
      a.nonce = std::string(as_text(n->value));
    if (a.cls == stun::MessageClass::Error && !handler_.proven_sources().proven(addr(from), now)) {
      EXPECT_LE(r[0].bytes.size(), b.size()) << "a refusal to an unproven source is never larger than the request";
    }
    return a;
  }
  // Registers `id` with `key` from `from` the way a client does: challenge, then signed with nonce.
  Answer register_signed(const char* id, const DeviceKey& key, const char* from, TimePoint now) {
    auto first = send(register_bytes(id, &key, std::nullopt), from, now);
    EXPECT_EQ(first.code, 401);
    EXPECT_TRUE(first.nonce);
    return send(register_bytes(id, &key, first.nonce), from, now);
  }

  TimePoint t0{std::chrono::seconds(100'000)};
  RequestHandler handler_;
  Bytes keep_;
  std::uint16_t tx_ = 0;
};

TEST_F(IdentityTest, FirstSignedRegistrationBindsTheKeyAndTheSameKeyRefreshes) {
  auto alice = DeviceKey::generate();
  EXPECT_EQ(register_signed("alice", alice, "203.0.113.5:4000", t0).cls, stun::MessageClass::Success);
  EXPECT_EQ(handler_.counters().keys_bound, 1u);
  EXPECT_EQ(handler_.key_bindings().key_of(*make_device_id(IdKind::UserName, "alice")), alice.public_key());
  // A refresh from a new address (the NAT moved) with the same key works.
  EXPECT_EQ(register_signed("alice", alice, "203.0.113.5:4999", t0 + 10s).cls, stun::MessageClass::Success);
  EXPECT_EQ(handler_.counters().signed_requests, 2u);
}

TEST_F(IdentityTest, AnotherKeyOrNoSignatureCannotTakeABoundId) {
  auto alice = DeviceKey::generate(), mallory = DeviceKey::generate();
  ASSERT_EQ(register_signed("alice", alice, "203.0.113.5:4000", t0).cls, stun::MessageClass::Success);
  auto hijack = register_signed("alice", mallory, "198.51.100.66:5000", t0 + 1s);
  EXPECT_EQ(hijack.code, 403);
  EXPECT_EQ(handler_.counters().key_mismatches, 1u);
  auto unsigned_try = send(register_bytes("alice", nullptr, std::nullopt), "198.51.100.66:5000", t0 + 2s);
  EXPECT_EQ(unsigned_try.code, 401);
  EXPECT_EQ(handler_.counters().unsigned_refused, 1u);
  // The registration still points at alice's own address: bob's connect learns that one.
  auto bob = DeviceKey::generate();
  ASSERT_EQ(register_signed("bob", bob, "203.0.113.6:4000", t0 + 3s).cls, stun::MessageClass::Success);
  auto c = send(connect_bytes("bob", "alice", &bob, std::nullopt), "203.0.113.6:4000", t0 + 4s);
  auto r =
      handler_.handle(Datagram{connect_bytes("bob", "alice", &bob, c.nonce), addr("203.0.113.6:4000"), 0}, t0 + 4s);
  ASSERT_EQ(r.size(), 2u);
  auto info = decode_peer_info(*parse_message(r[0].bytes));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->peer_mapped, addr("203.0.113.5:4000"));
}

TEST_F(IdentityTest, ANonceIsOnlyGoodForItsSourceAndPeriod) {
  auto alice = DeviceKey::generate();
  auto challenge = send(register_bytes("alice", &alice, std::nullopt), "203.0.113.5:4000", t0);
  ASSERT_TRUE(challenge.nonce);
  // The exact signed request, replayed from another address: the nonce does not fit there.
  auto signed_req = register_bytes("alice", &alice, challenge.nonce);
  EXPECT_EQ(send(signed_req, "198.51.100.66:5000", t0).code, 401);
  EXPECT_EQ(handler_.counters().nonce_challenges, 2u);
  // From its own address it works; much later it is stale (438 with a fresh nonce).
  EXPECT_EQ(send(signed_req, "203.0.113.5:4000", t0).cls, stun::MessageClass::Success);
  auto late = send(register_bytes("alice", &alice, challenge.nonce), "203.0.113.5:4000", t0 + 20min);
  EXPECT_EQ(late.code, 438);
  EXPECT_TRUE(late.nonce);
  EXPECT_NE(*late.nonce, *challenge.nonce);
}

TEST_F(IdentityTest, TamperedSignedRequestsAreRefusedAsBadSignatures) {
  auto alice = DeviceKey::generate();
  auto challenge = send(register_bytes("alice", &alice, std::nullopt), "203.0.113.5:4000", t0);
  auto req = register_bytes("alice", &alice, challenge.nonce);
  req[30] ^= std::byte{1};  // inside the NP-DEVICE-ID value ("alice" → another ID)
  // The FINGERPRINT no longer matches either: recompute it, as an attacker would.
  auto fixed = sign_request(req, DeviceKey::generate(), std::nullopt);  // a fresh, unrelated signature…
  ASSERT_FALSE(fixed.empty());
  auto m = parse_message(fixed);
  ASSERT_TRUE(m);
  // …makes the message carry two NP-SIGNATUREs, the first followed by other attributes: refused.
  EXPECT_EQ(check_signature(*m).state, SignatureState::Invalid);
  EXPECT_EQ(send(fixed, "203.0.113.5:4000", t0).code, 401);
  EXPECT_EQ(handler_.counters().bad_signatures, 1u);
}

TEST_F(IdentityTest, ConnectFromABoundIdMustBeSignedByItsKey) {
  auto alice = DeviceKey::generate(), bob = DeviceKey::generate();
  ASSERT_EQ(register_signed("alice", alice, "203.0.113.5:4000", t0).cls, stun::MessageClass::Success);
  ASSERT_EQ(register_signed("bob", bob, "203.0.113.6:4000", t0).cls, stun::MessageClass::Success);
  EXPECT_EQ(send(connect_bytes("alice", "bob", nullptr, std::nullopt), "198.51.100.66:5000", t0).code, 401);
  auto c = send(connect_bytes("alice", "bob", &bob, std::nullopt), "203.0.113.5:4000", t0);
  ASSERT_TRUE(c.nonce);
  EXPECT_EQ(send(connect_bytes("alice", "bob", &bob, c.nonce), "203.0.113.5:4000", t0).code, 403);  // bob's key
  auto ok = handler_.handle(Datagram{connect_bytes("alice", "bob", &alice, c.nonce), addr("203.0.113.5:4000"), 0}, t0);
  ASSERT_EQ(ok.size(), 2u);
  // Each side learns the key the other's ID is bound to (what it will pin on the path).
  auto for_alice = decode_peer_info(*parse_message(ok[0].bytes));
  auto for_bob = decode_peer_info(*parse_message(ok[1].bytes));
  ASSERT_TRUE(for_alice && for_bob);
  EXPECT_EQ(for_alice->peer_key, bob.public_key());
  EXPECT_EQ(for_bob->peer_key, alice.public_key());
}

TEST_F(IdentityTest, UnsignedDevicesStillWorkUnlessKeysAreRequired) {
  EXPECT_EQ(send(register_bytes("legacy", nullptr, std::nullopt), "203.0.113.7:4000", t0).cls,
            stun::MessageClass::Success);
  ServerConfig strict;
  strict.require_signatures = true;
  RequestHandler h(strict, seq_random());
  auto r = h.handle(Datagram{register_bytes("legacy", nullptr, std::nullopt), addr("203.0.113.7:4000"), 0}, t0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(decode_error_response(*parse_message(r[0].bytes))->code, 401);
  EXPECT_EQ(h.counters().unsigned_refused, 1u);
}

TEST_F(IdentityTest, AuthorizedKeysReplaceTrustOnFirstUse) {
  auto alice = DeviceKey::generate(), other = DeviceKey::generate();
  ServerConfig c;
  c.authorized_keys = std::map<std::string, PublicKey>{{"alice", alice.public_key()}};
  RequestHandler h(c, seq_random());
  auto run = [&](const char* id, const DeviceKey& k) {
    auto first = h.handle(Datagram{register_bytes(id, &k, std::nullopt), addr("203.0.113.5:4000"), 0}, t0);
    auto m = parse_message(first[0].bytes);
    const auto* n = m->find(stun::attr::kNonce);
    std::string nonce(as_text(n->value));
    auto second = h.handle(Datagram{register_bytes(id, &k, nonce), addr("203.0.113.5:4000"), 0}, t0);
    auto reply = parse_message(second[0].bytes);
    auto e = decode_error_response(*reply);
    return e ? e->code : 0;
  };
  EXPECT_EQ(run("alice", alice), 0);
  EXPECT_EQ(run("alice", other), 403);
  EXPECT_EQ(run("bob", other), 403);
  EXPECT_EQ(h.counters().not_authorized, 1u);
  EXPECT_EQ(h.counters().key_mismatches, 1u);
}

}  // namespace
}  // namespace natpunch
