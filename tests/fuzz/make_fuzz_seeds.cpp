// Writes the seed corpora committed in tests/fuzz/corpus/ (small binary files):
//   stun_message/    RFC 5769 vectors and one of each natpunch control message, built by the encoders;
//   request_handler/ the same single requests, plus conversations (several datagrams separated as
//                    fuzz_request_handler.cpp describes) that register two devices and connect them.
// Usage (from the repository root, after building build-san):
//   build-san/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
// Deterministic: running it again rewrites the same bytes.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "../unit/rfc5769_vectors.h"
#include "device/rendezvous_client_machine.h"
#include "request_handler_harness.h"
#include "server/request_handler.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

namespace fs = std::filesystem;

TransactionId txid(std::uint8_t seed) {
  TransactionId t{};
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = std::byte(static_cast<std::uint8_t>(seed * 17 + i));
  return t;
}

DeviceId id(IdKind kind, std::string_view value) { return *make_device_id(kind, value); }

void write(const fs::path& dir, const std::string& name, const Bytes& b) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

// rendezvous_client/: what the real handler says to a device's machine (as fuzz_rendezvous_client
// sets it up: a key, a binding, a registration and a connect in flight), each datagram 2-byte
// length-prefixed; the peer registers first so the connect succeeds and the peer gets a peer-info.
void write_rendezvous_client_seeds(const fs::path& dir) {
  static const DeviceKey key = DeviceKey::from_seed(std::array<std::byte, kSeedSize>{});
  auto counter = std::make_shared<std::uint8_t>(0);
  RandomSource random = [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
  RequestHandler handler(ServerConfig{}, random);
  auto server = SocketAddress::v4({127, 0, 0, 1}, 3478);
  auto device_at = SocketAddress::v4({198, 51, 100, 2}, 4000);
  auto peer_at = SocketAddress::v4({198, 51, 100, 3}, 5000);
  auto self = id(IdKind::UserName, "fuzz-device");
  auto peer = id(IdKind::UserName, "fuzz-peer");
  TimePoint now = TimePoint() + std::chrono::hours(1);
  auto play = [&](RendezvousClientMachine& m, const SocketAddress& at, Bytes* log, RendezvousClientMachine* other,
                  const SocketAddress& other_at, Bytes* other_log) {
    for (int round = 0; round < 8; ++round) {
      auto out = m.take_datagrams();
      if (out.empty()) break;
      for (auto& d : out) {
        for (auto& r : handler.handle(Datagram{d.bytes, at, 0}, now)) {
          bool to_self = r.destination == at;
          Bytes* into = to_self ? log : other_log;
          if (into) {
            into->push_back(std::byte(static_cast<std::uint8_t>(r.bytes.size() >> 8)));
            into->push_back(std::byte(static_cast<std::uint8_t>(r.bytes.size())));
            into->insert(into->end(), r.bytes.begin(), r.bytes.end());
          }
          if (to_self) m.on_datagram(r.bytes, server, now);
          else if (other && r.destination == other_at) other->on_datagram(r.bytes, server, now);
        }
      }
    }
  };
  RendezvousClientConfig pc;
  pc.server = server;
  pc.random = random;
  RendezvousClientMachine peer_machine(pc);
  peer_machine.register_device({peer, {}, std::nullopt}, now);
  play(peer_machine, peer_at, nullptr, nullptr, {}, nullptr);
  RendezvousClientConfig c = pc;
  c.key = &key;
  RendezvousClientMachine m(c);
  m.binding(now);
  m.register_device({self, {SocketAddress::v4({10, 0, 0, 2}, 4000)}, std::nullopt}, now);
  Bytes registered;
  play(m, device_at, &registered, nullptr, {}, nullptr);
  write(dir, "conversation-binding-signed-register.bin", registered);
  m.connect({self, peer}, now);
  Bytes connected;
  play(m, device_at, &connected, nullptr, {}, nullptr);
  write(dir, "conversation-connect-answer.bin", connected);
  // The peer asks for this device: the peer-info indication it gets, with its nonce.
  Bytes told;
  peer_machine.connect({peer, self}, now);
  play(peer_machine, peer_at, nullptr, &m, device_at, &told);
  Bytes all = registered;
  all.insert(all.end(), connected.begin(), connected.end());
  all.insert(all.end(), told.begin(), told.end());
  write(dir, "conversation-register-connect-peer-info.bin", all);
}

// Datagrams for fuzz_request_handler, framed as request_handler_harness.h describes.
struct Conversation {
  Bytes bytes;
  Conversation& then(const Bytes& datagram, std::uint8_t control = 0) {
    if (!bytes.empty()) {
      for (auto b : fuzz::kSeparator) bytes.push_back(std::byte(b));
      bytes.push_back(std::byte(control));
    }
    bytes.insert(bytes.end(), datagram.begin(), datagram.end());
    return *this;
  }
};
using fuzz::control;

// The attempt token the handler (as the harness configures it) issues for `connect` from source 0
// after alice (source 0) and bob (source 1) registered: what a signal must carry to be relayed.
AttemptToken predict_token(const Bytes& reg_alice, const Bytes& reg_bob, const Bytes& connect) {
  RequestHandler handler(fuzz::handler_config(), fuzz::deterministic_random());
  TimePoint now{};
  handler.handle({reg_alice, fuzz::sources()[0], 0}, now);
  handler.handle({reg_bob, fuzz::sources()[1], 0}, now);
  auto replies = handler.handle({connect, fuzz::sources()[0], 0}, now);
  if (replies.empty()) throw std::runtime_error("connect got no answer");
  auto m = parse_message(replies[0].bytes);
  auto info = m ? decode_peer_info(*m) : fail(ParseError::WrongMessage);
  // The handler refuses a connect from a source that has not proven itself (quoting its nonce),
  // which these single registrations do not: then no token exists and the signal carries zeros.
  if (!info) return AttemptToken{};
  return info->token;
}

int run(const fs::path& root) {
  const fs::path stun_dir = root / "stun_message";
  const fs::path handler_dir = root / "request_handler";

  const std::pair<const char*, const char*> rfc[] = {
      {"rfc5769-request", test::kRfc5769Request},
      {"rfc5769-ipv4-response", test::kRfc5769Ipv4Response},
      {"rfc5769-ipv6-response", test::kRfc5769Ipv6Response},
  };
  for (const auto& [name, hex] : rfc) {
    auto b = from_hex(hex);
    if (!b) throw std::runtime_error(std::string("bad hex in ") + name);
    write(stun_dir, std::string(name) + ".bin", *b);
    write(handler_dir, std::string(name) + ".bin", *b);
  }

  const auto alice = id(IdKind::UserName, "alice");
  const auto bob = id(IdKind::UserId, "+15551234567");
  const auto mac = id(IdKind::Mac, "00:11:22:33:44:55");
  const auto lan_a = SocketAddress::v4({192, 168, 1, 10}, 40000);
  const auto lan_b = SocketAddress::v6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, 50000);
  const auto public_a = SocketAddress::v4({198, 51, 100, 7}, 40000);
  NatBehavior cone;
  cone.mapping = Dependence::EndpointIndependent;
  cone.filtering = Dependence::AddressAndPortDependent;
  cone.port_preserved = true;
  cone.allocation = Allocation::Preserved;
  NatBehavior symmetric;
  symmetric.mapping = Dependence::AddressAndPortDependent;
  symmetric.filtering = Dependence::AddressAndPortDependent;
  symmetric.allocation = Allocation::Sequential;
  symmetric.port_delta = 2;

  const Bytes binding = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, txid(1)).finish();
  const Bytes binding_nofp =
      MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, txid(2)).finish(std::nullopt, false);
  const Bytes reg_alice = encode_register_request({alice, {lan_a, lan_b}, 120, cone}, txid(3));
  const Bytes reg_bob = encode_register_request({bob, {}, std::nullopt, symmetric}, txid(4));
  const Bytes reg_mac = encode_register_request({mac, {lan_a}, 5, std::nullopt}, txid(5));
  const Bytes connect = encode_connect_request({alice, bob}, txid(6));
  // NP-ALLOW: bob lets only alice connect; the MAC device lets nobody; the last one anyone.
  const Bytes reg_bob_allow_alice =
      encode_register_request({bob, {}, std::nullopt, symmetric, AllowList{false, {alice, mac}}}, txid(19));
  const Bytes reg_mac_allow_nobody = encode_register_request({mac, {lan_a}, 5, std::nullopt, AllowList{}}, txid(20));
  const Bytes reg_alice_allow_any = encode_register_request({alice, {lan_a}, 60, cone, AllowList{true, {}}}, txid(21));
  const Bytes connect_unknown = encode_connect_request({alice, mac}, txid(7));
  AttemptToken token{};
  for (std::size_t i = 0; i < token.size(); ++i) token[i] = std::byte(static_cast<std::uint8_t>(0xA0 + i));
  const Bytes peer_info_success =
      encode_peer_info({bob, public_a, {lan_a}, token, true, symmetric}, stun::MessageClass::Success, stun::method::kConnect, txid(6));
  const Bytes peer_info_indication = encode_peer_info({alice, public_a, {lan_a, lan_b}, token, false, cone},
                                                      stun::MessageClass::Indication, stun::method::kPeerInfo, txid(8));
  PeerInfo echoing{alice, public_a, {lan_a}, token, false, cone};
  echoing.nonce = "obMatJos2gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";  // the NONCE bob registered with
  const Bytes peer_info_with_nonce =
      encode_peer_info(echoing, stun::MessageClass::Indication, stun::method::kPeerInfo, txid(23));
  const Bytes reg_response = encode_register_response({public_a, 60}, txid(3));
  const Bytes error_404 = encode_error_response(stun::method::kConnect, txid(7), 404, "Unknown peer");
  const Bytes error_420 = encode_error_response(stun::method::kBinding, txid(9), 420, "Unknown Attribute", {0x7F01});
  MessageBuilder with_unknown(stun::method::kBinding, stun::MessageClass::Request, txid(10));
  with_unknown.add_u32(0x7F01, 1);
  const Bytes unknown_required = std::move(with_unknown).finish();

  // RFC 5780: CHANGE-REQUEST (change IP and port), RESPONSE-PORT.
  MessageBuilder change(stun::method::kBinding, stun::MessageClass::Request, txid(11));
  change.add_u32(stun::attr::kChangeRequest, stun::attr::kChangeIp | stun::attr::kChangePort);
  const Bytes change_request = std::move(change).finish();
  MessageBuilder response_port(stun::method::kBinding, stun::MessageClass::Request, txid(12));
  response_port.add_u32(stun::attr::kResponsePort, 40404u << 16);
  const Bytes response_port_request = std::move(response_port).finish();

  // Signals and punch packets.
  const AttemptToken issued = predict_token(reg_alice, reg_bob, connect);
  const Bytes signal = encode_signal({alice, bob, issued, SignalKind::SprayDone, public_a}, stun::MessageClass::Request,
                                     txid(13));
  const Bytes signal_unknown_attempt =
      encode_signal({alice, bob, token, SignalKind::ListenerReady, std::nullopt}, stun::MessageClass::Request, txid(14));
  const Bytes signal_indication =
      encode_signal({bob, alice, token, SignalKind::GiveUp, std::nullopt}, stun::MessageClass::Indication, txid(15));
  PunchPacket probe;
  probe.token = token;
  probe.stage = PunchStage::Probe;
  probe.target = public_a;
  probe.sequence = 7;
  PunchPacket ack = probe;
  ack.stage = PunchStage::Ack;
  ack.reached_at = lan_a;
  const Bytes punch_probe = encode_punch(probe, txid(16));
  const Bytes punch_ack = encode_punch(ack, txid(17));

  const std::pair<const char*, const Bytes*> singles[] = {
      {"binding-change-request", &change_request},
      {"binding-response-port", &response_port_request},
      {"signal-request-unknown-attempt", &signal_unknown_attempt},
      {"binding-request", &binding},
      {"binding-request-no-fingerprint", &binding_nofp},
      {"register-request-user-name", &reg_alice},
      {"register-request-user-id", &reg_bob},
      {"register-request-mac", &reg_mac},
      {"register-request-allow-list", &reg_bob_allow_alice},
      {"register-request-allow-nobody", &reg_mac_allow_nobody},
      {"register-request-allow-any", &reg_alice_allow_any},
      {"connect-request", &connect},
      {"connect-request-unknown-peer", &connect_unknown},
      {"binding-unknown-required-attribute", &unknown_required},
  };
  for (const auto& [name, bytes] : singles) {
    write(stun_dir, std::string(name) + ".bin", *bytes);
    write(handler_dir, std::string(name) + ".bin", *bytes);
  }
  const std::pair<const char*, const Bytes*> responses[] = {
      {"connect-success-peer-info", &peer_info_success},
      {"peer-info-indication", &peer_info_indication},
      {"peer-info-indication-nonce", &peer_info_with_nonce},
      {"register-response", &reg_response},
      {"error-response-404", &error_404},
      {"error-response-420", &error_420},
      {"signal-indication", &signal_indication},
      {"signal-request", &signal},
      {"punch-probe", &punch_probe},
      {"punch-ack", &punch_ack},
  };
  for (const auto& [name, bytes] : responses) write(stun_dir, std::string(name) + ".bin", *bytes);

  // Conversations: register both sides, connect, retransmit, signal, let registrations expire,
  // RFC 5780 on each kind of socket.
  Conversation happy;
  happy.then(reg_alice).then(reg_bob, control(1)).then(connect, control(0)).then(connect, control(0, 0, 1));
  write(handler_dir, "conversation-register-connect-retransmit.bin", happy.bytes);

  Conversation relay;
  relay.then(reg_alice).then(reg_bob, control(1)).then(connect, control(0)).then(signal, control(0));
  write(handler_dir, "conversation-connect-then-signal.bin", relay.bytes);

  Conversation expiry;
  expiry.then(reg_alice).then(reg_bob, control(1)).then(reg_alice, control(0, 0, 1)).then(connect, control(0, 0, 1, true));
  write(handler_dir, "conversation-peer-expired.bin", expiry.bytes);

  Conversation moved;
  moved.then(reg_alice).then(reg_alice, control(3)).then(reg_bob, control(2, 1)).then(connect, control(3));
  write(handler_dir, "conversation-moved-ipv6-second-socket.bin", moved.bytes);

  Conversation unknown;
  unknown.then(reg_alice).then(connect_unknown, control(0)).then(reg_mac, control(1)).then(connect_unknown, control(0, 0, 1));
  write(handler_dir, "conversation-unknown-peer-then-registered.bin", unknown.bytes);

  Conversation rfc5780;
  rfc5780.then(change_request).then(change_request, control(1, 3)).then(change_request, control(2, 4))
      .then(change_request, control(3, 6)).then(response_port_request, control(0, 2));
  write(handler_dir, "conversation-rfc5780-sockets.bin", rfc5780.bytes);

  // NP-ALLOW: alice may reach bob; bob may not reach the MAC device (403, counted).
  Conversation allow;
  allow.then(reg_alice_allow_any).then(reg_bob_allow_alice, control(1)).then(reg_mac_allow_nobody, control(2))
      .then(connect, control(0)).then(encode_connect_request({bob, mac}, txid(22)), control(1));
  write(handler_dir, "conversation-allow-list.bin", allow.bytes);

  write_rendezvous_client_seeds(root / "rendezvous_client");
  // The same conversations reach a whole device (fuzz_device_machine frames them alike).
  write_rendezvous_client_seeds(root / "device_machine");

  std::printf("seeds written under %s\n", root.string().c_str());
  return 0;
}

}  // namespace
}  // namespace natpunch

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT   (e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    return natpunch::run(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
}
