// device/rendezvous_requests.h: the requests a device sends and its nonce rounds, played against the
// real rendezvous request handler.
#include "device/rendezvous_requests.h"

#include <gtest/gtest.h>

#include "identity/signed_request.h"
#include "server/request_handler.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/padding.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

TransactionId txid(std::uint8_t n) {
  TransactionId t{};
  t[0] = std::byte{n};
  t[11] = std::byte{0x33};
  return t;
}

RandomSource counting_random() {
  auto counter = std::make_shared<std::uint8_t>(0);
  return [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
}

DeviceId id(const char* name) { return *make_device_id(IdKind::UserName, name); }

class NonceRounds : public ::testing::Test {
 protected:
  NonceRounds() : handler_(ServerConfig{}, counting_random()) {}

  // Sends `request` from `from`; returns the one answer to `from` (kept alive in this fixture).
  MessageView answer(const Bytes& request, const char* from) {
    auto r = handler_.handle(Datagram{request, addr(from), 0}, now_);
    std::erase_if(r, [&](const Reply& x) { return x.destination != addr(from); });
    EXPECT_EQ(r.size(), 1u);
    kept_.push_back(r.empty() ? Bytes{} : r.front().bytes);
    auto m = parse_message(kept_.back(), answer_limits());
    EXPECT_TRUE(static_cast<bool>(m));
    return *m;
  }
  // Registers as a device does: rounds while the book says so. Returns the rounds sent and the last answer.
  std::pair<int, MessageView> register_rounds(NonceBook& book, const char* name, const char* from,
                                              const DeviceKey* key) {
    RegisterRequest r{id(name), {addr("10.0.0.9:1000")}, std::nullopt};
    for (int round = 0;; ++round) {
      auto quoted = book.current();
      auto m = answer(registration_request(r, txid(static_cast<std::uint8_t>(next_++)), Family::V4, key, quoted), from);
      if (book.after_answer(m, ClientRequest::Register, key != nullptr, round, quoted) == NonceStep::Done)
        return {round + 1, m};
    }
  }

  TimePoint now_{std::chrono::seconds(500)};
  RequestHandler handler_;
  std::vector<Bytes> kept_;
  int next_ = 1;
};

TEST_F(NonceRounds, AFirstRegistrationIsPaddedAndCarriesNoNonce) {
  RegisterRequest r{id("lamp"), {}, std::nullopt};
  auto first = registration_request(r, txid(1), Family::V4, nullptr, std::nullopt);
  EXPECT_EQ(first.size(), register_response_size(Family::V4));
  auto m = parse_message(first);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->find(stun::attr::kNonce), nullptr);
  auto quoting = registration_request(r, txid(2), Family::V4, nullptr, std::string("abc"));
  auto q = parse_message(quoting);
  ASSERT_TRUE(q);
  ASSERT_NE(q->find(stun::attr::kNonce), nullptr);
  EXPECT_EQ(as_text(q->find(stun::attr::kNonce)->value), "abc");
  // Padded too: the nonce it quotes may be stale (a restarted server), and the answer must be able
  // to bring the fresh one to a source the server does not count as proven.
  EXPECT_EQ(quoting.size(), first.size());
}

TEST_F(NonceRounds, AnUnsignedDeviceRegistersTwiceThenConnectsQuotingTheNonce) {
  NonceBook lamp, phone;
  auto [rounds, last] = register_rounds(lamp, "lamp", "198.51.100.1:4000", nullptr);
  EXPECT_EQ(rounds, 2) << "padded first, then again quoting the nonce";
  EXPECT_EQ(last.cls(), stun::MessageClass::Success);
  ASSERT_TRUE(lamp.current());
  EXPECT_EQ(register_rounds(phone, "phone", "198.51.100.2:5000", nullptr).first, 2);
  // A second registration from a proven address quotes the nonce at once: one round.
  EXPECT_EQ(register_rounds(lamp, "lamp", "198.51.100.1:4000", nullptr).first, 1);
  auto m = answer(connection_request({id("phone"), id("lamp")}, txid(90), nullptr, phone.current()),
                  "198.51.100.2:5000");
  EXPECT_EQ(m.cls(), stun::MessageClass::Success);
  EXPECT_EQ(phone.after_answer(m, ClientRequest::Connect, false, 0, phone.current()), NonceStep::Done);
}

TEST_F(NonceRounds, AConnectFromAnUnprovenAddressGoesAgainOnlyWhenTheNonceCameBack) {
  auto key = DeviceKey::generate();
  NonceBook lamp, phone;
  register_rounds(lamp, "lamp", "198.51.100.1:4000", nullptr);
  register_rounds(phone, "phone", "198.51.100.2:5000", &key);
  // The phone's NAT gave it a new address, which the server has not seen prove itself.
  NonceBook moved, moved_unsigned;
  // Unsigned, the request is too small to carry the nonce back (the amplification rule): refused, done.
  auto bare = answer(connection_request({id("other"), id("lamp")}, txid(90), nullptr, std::nullopt),
                     "198.51.100.2:5001");
  ASSERT_EQ(bare.cls(), stun::MessageClass::Error);
  EXPECT_EQ(moved_unsigned.after_answer(bare, ClientRequest::Connect, false, 0, std::nullopt), NonceStep::Done);
  // Signed, it is large enough: the refusal carries the nonce and the connect goes again quoting it.
  auto refused = answer(connection_request({id("phone"), id("lamp")}, txid(91), &key, moved.current()),
                        "198.51.100.2:5001");
  ASSERT_EQ(refused.cls(), stun::MessageClass::Error);
  ASSERT_EQ(moved.after_answer(refused, ClientRequest::Connect, true, 0, std::nullopt), NonceStep::AgainQuotingNonce);
  auto quoted = moved.current();
  auto m = answer(connection_request({id("phone"), id("lamp")}, txid(92), &key, quoted), "198.51.100.2:5001");
  EXPECT_EQ(m.cls(), stun::MessageClass::Success);
  EXPECT_EQ(moved.after_answer(m, ClientRequest::Connect, true, 1, quoted), NonceStep::Done);
}

TEST_F(NonceRounds, ASigningDeviceIsAskedForTheNonceAndSignsIt) {
  auto key = DeviceKey::generate();
  NonceBook book;
  auto [rounds, last] = register_rounds(book, "thermostat", "198.51.100.3:6000", &key);
  EXPECT_EQ(last.cls(), stun::MessageClass::Success);
  EXPECT_GE(rounds, 2);
  EXPECT_LE(rounds, 3);
  ASSERT_TRUE(book.current());
  // The request it sent last is signed over the nonce it quoted.
  auto signed_request = registration_request({id("thermostat"), {}, std::nullopt}, txid(93), Family::V4, &key,
                                             book.current());
  auto m = parse_message(signed_request);
  ASSERT_TRUE(m);
  auto check = check_signature(*m);
  EXPECT_EQ(check.state, SignatureState::Valid);
  EXPECT_EQ(check.nonce, book.current());
}

TEST_F(NonceRounds, AnUnsignedRegistrationRefusedIsNotANonceProblem) {
  auto key = DeviceKey::generate();
  NonceBook owner, thief;
  register_rounds(owner, "camera", "198.51.100.4:7000", &key);
  // The ID is bound to a key: an unsigned registration of it is refused, and not sent again.
  auto [rounds, last] = register_rounds(thief, "camera", "198.51.100.66:7000", nullptr);
  EXPECT_EQ(last.cls(), stun::MessageClass::Error);
  EXPECT_EQ(rounds, 1);
}

TEST(NonceBook, AtRoundTwoItStopsWhateverTheAnswer) {
  NonceBook book;
  auto b = with_attribute(encode_register_response({addr("198.51.100.1:1"), 30}, txid(1)), stun::attr::kNonce,
                          as_bytes("n1"));
  auto m = parse_message(b, answer_limits());
  ASSERT_TRUE(m);
  EXPECT_EQ(book.after_answer(*m, ClientRequest::Register, false, 2, std::nullopt), NonceStep::Done);
  EXPECT_EQ(book.after_answer(*m, ClientRequest::Register, false, 1, std::nullopt), NonceStep::AgainQuotingNonce);
  EXPECT_EQ(book.after_answer(*m, ClientRequest::Register, false, 1, std::string("n1")), NonceStep::Done)
      << "answered with the nonce it quoted";
  EXPECT_EQ(book.current(), "n1");
}

// Two requests in flight before any nonce was known: the registration's answer teaches the book N;
// the connect, refused for want of N, must still go again quoting it (it did not quote N).
TEST(NonceBook, ARequestThatDidNotQuoteTheNonceGoesAgainEvenWhenTheBookKnowsIt) {
  NonceBook book;
  auto reg = with_attribute(encode_register_response({addr("198.51.100.1:1"), 30}, txid(1)), stun::attr::kNonce,
                            as_bytes("N"));
  auto r = parse_message(reg, answer_limits());
  ASSERT_TRUE(r);
  EXPECT_EQ(book.after_answer(*r, ClientRequest::Register, true, 0, std::nullopt), NonceStep::AgainQuotingNonce);
  MessageBuilder refusal(stun::method::kConnect, stun::MessageClass::Error, txid(2));
  refusal.add_error(stun::error_code::kUnauthenticated, "Nonce required");
  refusal.add(stun::attr::kNonce, as_bytes("N"));
  auto bytes = refusal.finish();
  auto c = parse_message(bytes, answer_limits());
  ASSERT_TRUE(c);
  EXPECT_EQ(book.after_answer(*c, ClientRequest::Connect, true, 0, std::nullopt), NonceStep::AgainQuotingNonce);
  EXPECT_EQ(book.after_answer(*c, ClientRequest::Connect, true, 1, std::string("N")), NonceStep::Done)
      << "refused although it quoted N: not a nonce problem";
}

TEST(NonceBook, APeerInfoVouchedForByTheCurrentOrPreviousNonceOnlyWhenSigning) {
  NonceBook book;
  auto learn = [&](const char* nonce) {
    auto b = with_attribute(encode_register_response({addr("198.51.100.1:1"), 30}, txid(1)), stun::attr::kNonce,
                            as_bytes(nonce));
    auto m = parse_message(b, answer_limits());
    ASSERT_TRUE(m);
    book.after_answer(*m, ClientRequest::Register, true, 0, std::nullopt);
  };
  learn("old");
  learn("new");
  PeerInfo info;
  EXPECT_FALSE(book.vouches_for(info, true)) << "no nonce at all";
  EXPECT_TRUE(book.vouches_for(info, false)) << "an unsigned device cannot tell";
  info.nonce = "new";
  EXPECT_TRUE(book.vouches_for(info, true));
  info.nonce = "old";
  EXPECT_TRUE(book.vouches_for(info, true)) << "built just before the change";
  learn("newer");
  EXPECT_FALSE(book.vouches_for(info, true)) << "two changes ago";
  info.nonce = "forged";
  EXPECT_FALSE(book.vouches_for(info, true));
  book.forget();
  EXPECT_FALSE(book.current());
}

}  // namespace
}  // namespace natpunch
