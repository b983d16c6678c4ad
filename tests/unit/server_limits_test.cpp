// The server's abuse limits (docs/security.md, issue 6): no reply larger than the request toward a
// source that has not proven it receives at its address, indications only to proven addresses,
// per-source-IP rate limits by request kind, a cap on live registrations per IP, bounded tables.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "server/request_handler.h"
#include "test_seed.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/padding.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }
DeviceId id(const std::string& s) { return *make_device_id(IdKind::UserName, s); }

std::vector<SocketRole> rfc5780_sockets() {
  return {{0, false, false, addr("203.0.113.1:3478")},
          {0, false, true, addr("203.0.113.1:3479")},
          {0, true, false, addr("203.0.113.2:3478")},
          {0, true, true, addr("203.0.113.2:3479")}};
}

RandomSource counting_random() {
  auto n = std::make_shared<std::uint32_t>(0);
  return [n](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte(static_cast<std::uint8_t>(++*n * 2654435761u >> 24));
  };
}

class LimitsTest : public ::testing::Test {
 protected:
  explicit LimitsTest(ServerConfig c = config()) : handler_(std::move(c), counting_random()) {}
  static ServerConfig config() {
    ServerConfig c;
    c.sockets = rfc5780_sockets();
    return c;
  }
  std::vector<Reply> send(const Bytes& b, const char* from, TimePoint now) {
    return handler_.handle(Datagram{b, addr(from), 0}, now);
  }
  TransactionId tx() {
    TransactionId t{};
    ++tx_;
    t[0] = std::byte(static_cast<std::uint8_t>(tx_));
    t[1] = std::byte(static_cast<std::uint8_t>(tx_ >> 8));
    t[11] = std::byte{0x5a};
    return t;
  }
  // Registers like natpunch's client: padded, then again quoting the nonce the answer carried.
  // Returns the nonce (the source is now proven).
  std::string register_proven(const std::string& name, const char* from, TimePoint now) {
    RegisterRequest r{id(name), {addr("10.0.0.9:1000")}, std::nullopt};
    auto first = send(padded_to(encode_register_request(r, tx()), register_response_size(Family::V4)), from, now);
    EXPECT_EQ(first.size(), 1u);
    auto m = parse_message(first.at(0).bytes);
    EXPECT_EQ(m->cls(), stun::MessageClass::Success);
    const auto* n = m->find(stun::attr::kNonce);
    EXPECT_NE(n, nullptr) << "a padded registration gets the nonce back";
    std::string nonce(as_text(n->value));
    auto again = send(with_attribute(encode_register_request(r, tx()), stun::attr::kNonce, as_bytes(nonce)), from, now);
    EXPECT_EQ(parse_message(again.at(0).bytes)->cls(), stun::MessageClass::Success);
    return nonce;
  }
  Bytes connect(const std::string& self, const std::string& peer, std::optional<std::string> nonce) {
    auto b = encode_connect_request({id(self), id(peer)}, tx());
    return nonce ? with_attribute(b, stun::attr::kNonce, as_bytes(*nonce)) : b;
  }
  Bytes binding(std::size_t pad_to = 0) {
    auto b = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, tx()).finish();
    return padded_to(b, pad_to);
  }

  TimePoint t0{std::chrono::seconds(50'000)};
  RequestHandler handler_;
  std::uint32_t tx_ = 0;
};

TEST_F(LimitsTest, BareBindingFromAnUnprovenSourceGetsNoLargerAnswer) {
  // 28 bytes (header + FINGERPRINT): even XOR-MAPPED-ADDRESS alone (32 bytes) does not fit.
  EXPECT_TRUE(send(binding(), "198.51.100.7:4000", t0).empty());
  EXPECT_EQ(handler_.counters().amplification_refused, 1u);
}

TEST_F(LimitsTest, PaddedBindingGetsTheFullRfc5780Answer) {
  auto req = padded_binding_request(tx(), Family::V4);
  EXPECT_EQ(req.size(), binding_response_size(Family::V4));
  auto r = send(req, "198.51.100.7:4000", t0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_LE(r[0].bytes.size(), req.size());
  auto m = parse_message(r[0].bytes);
  EXPECT_EQ(mapped_address_of(*m)->to_string(), "198.51.100.7:4000");
  EXPECT_NE(m->find(stun::attr::kResponseOrigin), nullptr);
  EXPECT_NE(m->find(stun::attr::kOtherAddress), nullptr);
  EXPECT_TRUE(m->has_fingerprint());
  EXPECT_EQ(handler_.counters().amplification_trimmed, 0u);
}

TEST_F(LimitsTest, OptionalAttributesGoFirstWhenTheAnswerDoesNotFit) {
  // 52 bytes: room for XOR-MAPPED-ADDRESS, OTHER-ADDRESS and FINGERPRINT, not RESPONSE-ORIGIN.
  auto r = send(binding(52), "198.51.100.7:4000", t0);
  ASSERT_EQ(r.size(), 1u);
  auto m = parse_message(r[0].bytes);
  EXPECT_LE(r[0].bytes.size(), 52u);
  EXPECT_EQ(m->find(stun::attr::kResponseOrigin), nullptr);
  EXPECT_NE(m->find(stun::attr::kOtherAddress), nullptr);
  EXPECT_EQ(mapped_address_of(*m)->to_string(), "198.51.100.7:4000");
  EXPECT_EQ(handler_.counters().amplification_trimmed, 1u);
}

TEST_F(LimitsTest, TheOperatorMayAllowLargerAnswersForClientsThatCannotPad) {
  ServerConfig c = config();
  c.amplification_limit = 4.0;  // e.g. coturn's turnutils_stunclient: bare 20-byte requests
  RequestHandler h(c, counting_random());
  auto bare = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, tx()).finish(std::nullopt, false);
  auto r = h.handle(Datagram{bare, addr("198.51.100.7:4000"), 0}, t0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bytes.size(), 64u);  // ×3.2
}

TEST_F(LimitsTest, AProvenSourceGetsFullAnswers) {
  register_proven("alice", "198.51.100.7:4000", t0);
  auto req = binding();  // 28 bytes
  auto r = send(req, "198.51.100.7:4000", t0 + 1s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bytes.size(), 64u);
  EXPECT_TRUE(handler_.proven_sources().proven(addr("198.51.100.7:4000"), t0 + 1s));
  // Another port of the same IP has proven nothing.
  EXPECT_TRUE(send(binding(), "198.51.100.7:4001", t0 + 1s).empty());
  // The proof lasts two nonce periods.
  EXPECT_FALSE(handler_.proven_sources().proven(addr("198.51.100.7:4000"), t0 + 2 * ServerConfig{}.nonce_period));
}

TEST_F(LimitsTest, ConnectNeedsAProvenSourceAndReachesOnlyAProvenPeer) {
  register_proven("bob", "203.0.113.9:7000", t0);
  // Carol registered with a small request: she never got (nor quoted) a nonce.
  RegisterRequest carol{id("carol"), {addr("10.0.0.3:1")}, std::nullopt};
  ASSERT_EQ(send(encode_register_request(carol, tx()), "198.51.100.3:6000", t0).size(), 1u);
  auto bare = connect("carol", "bob", std::nullopt);
  auto r = send(bare, "198.51.100.3:6000", t0 + 1s);
  ASSERT_EQ(r.size(), 1u) << "a challenge, and no peer-info anywhere";
  EXPECT_EQ(decode_error_response(*parse_message(r[0].bytes))->code, 401);
  EXPECT_LE(r[0].bytes.size(), bare.size());
  EXPECT_EQ(handler_.counters().connect_challenged, 1u);
  // Alice proved her address: her connect request gets the answer and bob his indication.
  auto a = register_proven("alice", "198.51.100.1:6000", t0);
  r = send(connect("alice", "bob", a), "198.51.100.1:6000", t0 + 2s);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].destination.to_string(), "203.0.113.9:7000");
  EXPECT_EQ(handler_.counters().connect_challenged, 1u);
}

TEST_F(LimitsTest, NoIndicationToAPeerThatNeverProvedItsAddress) {
  auto a = register_proven("alice", "198.51.100.1:6000", t0);
  // "bob" registered from a spoofed victim address: a small request, no nonce round trip.
  RegisterRequest r{id("bob"), {}, std::nullopt};
  auto reg = send(encode_register_request(r, tx()), "192.0.2.66:53", t0);
  EXPECT_TRUE(reg.empty()) << "even the trimmed answer is larger than the 36-byte request";
  EXPECT_EQ(handler_.registry().size(), 2u);
  auto replies = send(connect("alice", "bob", a), "198.51.100.1:6000", t0 + 1s);
  ASSERT_EQ(replies.size(), 1u);  // alice's answer only
  EXPECT_EQ(replies[0].destination.to_string(), "198.51.100.1:6000");
  EXPECT_EQ(handler_.counters().indications_refused, 1u);
}

// The invariant over every request kind and error path: toward a source that has not proven its
// address, each answer is at most the request's size (amplification ≤ 1.0), and nothing goes to an
// unproven third party.
TEST_F(LimitsTest, NoAnswerToAnUnprovenSourceIsLargerThanItsRequest) {
  std::mt19937_64 rng(test::test_seed("LimitsTest.NoAnswerLargerThanItsRequest"));
  auto nonce_a = register_proven("alice", "198.51.100.1:6000", t0);
  register_proven("bob", "203.0.113.9:7000", t0);
  const char* names[] = {"alice", "bob", "carol", "dave"};
  std::string long_name(120, 'y');
  std::size_t answered = 0, silent = 0;
  for (int i = 0; i < 4000; ++i) {
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    std::string self = pick(6) == 5 ? long_name : names[pick(4)], peer = names[pick(4)];
    Bytes req;
    switch (pick(12)) {
      case 0: req = binding(); break;
      case 1: req = binding(pick(120)); break;
      case 2: {
        MessageBuilder b(stun::method::kBinding, stun::MessageClass::Request, tx());
        b.add_u32(stun::attr::kChangeRequest, static_cast<std::uint32_t>(pick(8)));
        if (pick(2)) b.add_u32(stun::attr::kResponsePort, static_cast<std::uint32_t>(pick(65536)) << 16);
        if (pick(2)) b.add_u32(0x7000 + static_cast<std::uint16_t>(pick(4)), 0);  // unknown: 420
        req = b.finish(std::nullopt, pick(2) == 0);
        break;
      }
      case 3: {
        RegisterRequest r{id(self), {}, pick(2) ? std::optional<std::uint32_t>(30) : std::nullopt};
        for (std::size_t k = pick(9); k > 0; --k) r.locals.push_back(addr("10.1.2.3:4000"));
        req = padded_to(encode_register_request(r, tx()), pick(3) ? 0 : register_response_size(Family::V4));
        break;
      }
      case 4: req = connect(self, peer, std::nullopt); break;
      case 5: req = connect(self, peer, pick(2) ? std::optional<std::string>(nonce_a) : std::nullopt); break;
      case 6: {
        Signal s{id(self), id(peer), {}, SignalKind::ListenerReady, std::nullopt};
        req = encode_signal(s, stun::MessageClass::Request, tx());
        break;
      }
      case 7:
        req = MessageBuilder(static_cast<std::uint16_t>(0x0100 + pick(50)), stun::MessageClass::Request, tx())
                  .finish(std::nullopt, pick(2) == 0);
        break;
      case 8: {  // a bad attribute body: 400
        req = MessageBuilder(static_cast<std::uint16_t>(pick(2) ? stun::method::kRegister : stun::method::kBinding),
                             stun::MessageClass::Request, tx())
                  .finish(std::nullopt, false);
        for (std::size_t k = 0; k < 2 + pick(10); ++k) req.push_back(std::byte{0x80});
        put_u16_at(req, 2, static_cast<std::uint16_t>(req.size() - 20));
        break;
      }
      case 9: {  // a register without an ID, or with a bad one
        MessageBuilder b(stun::method::kRegister, stun::MessageClass::Request, tx());
        if (pick(2)) b.add(stun::attr::kDeviceId, Bytes(pick(3), std::byte{0x01}));
        req = b.finish();
        break;
      }
      case 10: {  // garbage and truncations of a valid request
        req = connect(self, peer, std::nullopt);
        req.resize(pick(req.size()) + 1);
        break;
      }
      default: {  // a registration quoting a wrong or stolen nonce
        RegisterRequest r{id(self), {}, std::nullopt};
        req = with_attribute(encode_register_request(r, tx()), stun::attr::kNonce, as_bytes(nonce_a));
        break;
      }
    }
    // A fresh source each time: never proven (nonce_a is bound to alice's address only).
    auto source = SocketAddress::v4({10, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1},
                                    static_cast<std::uint16_t>(1024 + pick(60000)));
    auto now = t0 + std::chrono::milliseconds(i);
    auto replies = handler_.handle(Datagram{req, source, static_cast<std::uint8_t>(pick(4))}, now);
    (replies.empty() ? silent : answered) += 1;
    std::size_t to_source = 0;
    for (const auto& r : replies) {
      if (r.destination.same_ip(source)) {
        EXPECT_LE(r.bytes.size(), req.size()) << "request kind " << i;
        to_source += r.bytes.size();
      } else {
        EXPECT_TRUE(handler_.proven_sources().proven(r.destination, now)) << r.destination.to_string();
      }
    }
    EXPECT_LE(to_source, req.size());
    EXPECT_FALSE(handler_.proven_sources().proven(source, now));
  }
  // Both paths were exercised.
  EXPECT_GT(answered, 1000u);
  EXPECT_GT(silent, 100u);
  EXPECT_GT(handler_.counters().amplification_trimmed, 0u);
  EXPECT_GT(handler_.counters().amplification_refused, 0u);
  EXPECT_EQ(handler_.counters().rate_limited_total(), 0u);  // fresh IPs: no limit reached
}

class RateLimitTest : public LimitsTest {
 protected:
  RateLimitTest() : LimitsTest(limited()) {}
  static ServerConfig limited() {
    ServerConfig c = config();
    c.rate_limits[static_cast<std::size_t>(RequestKind::Binding)] = {10, 5};
    c.rate_limits[static_cast<std::size_t>(RequestKind::Other)] = {1, 2};
    c.max_rate_limited_sources = 4;
    return c;
  }
};

TEST_F(RateLimitTest, KicksInAfterTheBurstAndRecovers) {
  const auto pad = binding_response_size(Family::V4);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(send(binding(pad), "198.51.100.7:4000", t0).size(), 1u) << i;
  // The sixth in the same instant: dropped unanswered, counted under its kind.
  EXPECT_TRUE(send(binding(pad), "198.51.100.7:4001", t0).empty()) << "the limit is per IP, not per port";
  EXPECT_EQ(handler_.counters().rate_limited[static_cast<std::size_t>(RequestKind::Binding)], 1u);
  EXPECT_EQ(handler_.counters().binding_requests, 5u) << "dropped before it is handled";
  // Another IP is not affected; other kinds from the same IP are not affected.
  EXPECT_EQ(send(binding(pad), "198.51.100.8:4000", t0).size(), 1u);
  RegisterRequest r{id("alice"), {}, std::nullopt};
  EXPECT_EQ(send(encode_register_request(r, tx()), "198.51.100.7:4000", t0).size(), 1u);
  // 100 ms later one token is back (10/s); a second later the burst, not more.
  EXPECT_EQ(send(binding(pad), "198.51.100.7:4000", t0 + 100ms).size(), 1u);
  EXPECT_TRUE(send(binding(pad), "198.51.100.7:4000", t0 + 100ms).empty());
  int ok = 0;
  for (int i = 0; i < 10; ++i) ok += static_cast<int>(send(binding(pad), "198.51.100.7:4000", t0 + 2s).size());
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(handler_.counters().rate_limited_total(), 7u);
}

TEST_F(RateLimitTest, GarbageIsLimitedBeforeParsing) {
  Bytes garbage(40, std::byte{0x17});
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(send(garbage, "198.51.100.7:4000", t0).empty());
  EXPECT_EQ(handler_.counters().malformed_total(), 2u);  // the burst: parsed and counted as malformed
  EXPECT_EQ(handler_.counters().rate_limited[static_cast<std::size_t>(RequestKind::Other)], 8u);
  EXPECT_EQ(handler_.counters().datagrams, 10u);
}

TEST_F(RateLimitTest, TheTableIsBounded) {
  const auto pad = binding_response_size(Family::V4);
  for (std::uint8_t i = 1; i <= 20; ++i)
    handler_.handle(Datagram{binding(pad), SocketAddress::v4({192, 0, 2, i}, 1000), 0}, t0);
  EXPECT_LE(handler_.rate_limiter().size(), 4u);
  handler_.tick(t0);
  EXPECT_EQ(handler_.counters().rate_table_evictions, 16u);
  // Idle sources whose buckets refilled are forgotten.
  handler_.tick(t0 + 10s);
  EXPECT_EQ(handler_.rate_limiter().size(), 0u);
}

TEST(ProvenSourcesTable, IsBoundedAndExpires) {
  ProvenSources p(3, 600s);
  TimePoint t{std::chrono::seconds(1)};
  for (std::uint8_t i = 1; i <= 10; ++i) p.prove(SocketAddress::v4({192, 0, 2, i}, 1), t);
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.evictions(), 7u);
  EXPECT_TRUE(p.proven(SocketAddress::v4({192, 0, 2, 10}, 1), t));
  p.expire(t + 600s);
  EXPECT_EQ(p.size(), 0u);
}

class PerIpCapTest : public LimitsTest {
 protected:
  PerIpCapTest() : LimitsTest(capped()) {}
  static ServerConfig capped() {
    ServerConfig c = config();
    c.max_registrations_per_ip = 2;
    c.ttl = 30s;
    return c;
  }
  int register_from(const std::string& name, const char* from, TimePoint now) {
    RegisterRequest r{id(name), {}, std::nullopt};
    auto replies = send(padded_to(encode_register_request(r, tx()), register_response_size(Family::V4)), from, now);
    if (replies.size() != 1) return -1;
    auto m = parse_message(replies[0].bytes);
    if (m->cls() == stun::MessageClass::Success) return 200;
    return decode_error_response(*m)->code;
  }
};

TEST_F(PerIpCapTest, LiveRegistrationsPerSourceIpAreCapped) {
  EXPECT_EQ(register_from("a", "192.0.2.1:1", t0), 200);
  EXPECT_EQ(register_from("b", "192.0.2.1:2", t0), 200);
  EXPECT_EQ(register_from("c", "192.0.2.1:3", t0), 508);
  EXPECT_EQ(handler_.counters().registrations_capped, 1u);
  EXPECT_EQ(register_from("a", "192.0.2.1:9", t0 + 1s), 200) << "refreshing or moving within the IP is fine";
  EXPECT_EQ(register_from("c", "192.0.2.2:3", t0), 200) << "another IP has its own cap";
  EXPECT_EQ(register_from("c", "192.0.2.1:3", t0 + 1s), 508) << "moving into a full IP is refused";
  EXPECT_EQ(handler_.registry().count_for_ip(addr("192.0.2.1:0")), 2u);
  // Expired registrations free their IP's room.
  handler_.tick(t0 + 30s);
  EXPECT_EQ(handler_.registry().count_for_ip(addr("192.0.2.1:0")), 1u);  // "a" was refreshed at t0 + 1s
  EXPECT_EQ(register_from("d", "192.0.2.1:4", t0 + 30s), 200);
  EXPECT_EQ(handler_.counters().registrations_capped, 2u);
}

TEST_F(LimitsTest, StatsJsonShowsRejectedRateLimitedAndMalformedTotals) {
  send(Bytes(30, std::byte{0x55}), "192.0.2.1:1", t0);       // not STUN
  send(connect("x", "y", std::nullopt), "192.0.2.1:1", t0);  // 401
  auto j = nlohmann::json::parse(handler_.counters().to_json());
  EXPECT_EQ(j["malformed"], 1);
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["rate_limited"]["total"], 0);
  for (auto k : {"binding", "register", "connect", "signal", "other"}) EXPECT_TRUE(j["rate_limited"].contains(k));
  for (auto k : {"registrations_capped", "amplification_refused", "amplification_trimmed", "indications_refused",
                 "sources_proven", "connect_challenged"})
    EXPECT_TRUE(j["limits"].contains(k)) << k;
}

}  // namespace
}  // namespace natpunch
