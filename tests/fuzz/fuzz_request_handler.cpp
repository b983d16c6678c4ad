// libFuzzer target for the rendezvous server's request handler (src/server): a pure function of
// (datagram, source, socket, now), so the whole server logic — registry, duplicate cache,
// connect/peer-info, signal relay, RFC 5780 (CHANGE-REQUEST, RESPONSE-PORT), error responses,
// counters — runs here without sockets.
//
// Input: one or more datagrams separated by fuzz::kSeparator. The first datagram comes from source
// 0 on socket 0; each later one is preceded by a control byte (request_handler_harness.h): source
// (4 fixed addresses, IPv4 and IPv6), receiving socket (0-3: an RFC 5780 group of four, 4: a
// primary without alternates, 5-7: sockets with no role), tick() first, clock advance 0-60 s
// (crosses the registration TTL, the duplicate window and the attempt lifetime).
// So a bare STUN message (RFC 5769 vector, natpunch request) is a valid seed as is.
//
// Invariants: every reply parses as valid STUN with FINGERPRINT; the response echoes the request's
// transaction and method, goes back to the requester's IP (another port only for RESPONSE-PORT)
// through the socket it came in on (another of its group only for CHANGE-REQUEST, as the flags
// say); a second reply is a peer-info or signal indication to a registered source; successes
// decode as their method's response, errors carry ERROR-CODE 300-699.
// Triage: FUZZ_TRACE=1 ./fuzz_request_handler CRASH_FILE prints each request and reply type.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "request_handler_harness.h"
#include "server/request_handler.h"
#include "wire/nat_behavior.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/padding.h"

namespace natpunch {
namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_request_handler: invariant violated: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) violated(what);
}

struct Chunk {
  ByteView bytes;
  std::uint8_t control = 0;
};

std::vector<Chunk> split(ByteView in) {
  std::vector<Chunk> out;
  auto sep = std::as_bytes(std::span(fuzz::kSeparator));
  std::size_t start = 0;
  std::uint8_t control = 0;
  while (true) {
    auto rest = in.subspan(start);
    auto it = std::search(rest.begin(), rest.end(), sep.begin(), sep.end());
    std::size_t len = static_cast<std::size_t>(it - rest.begin());
    out.push_back({rest.first(len), control});
    if (it == rest.end() || out.size() >= 64) break;
    start += len + sep.size();
    if (start >= in.size()) break;
    control = static_cast<std::uint8_t>(in[start]);
    ++start;
  }
  return out;
}

// Known server bugs, tolerated until fixed (then set this to false): the duplicate cache is keyed
// on (source, transaction ID) only, so a request that reuses the transaction ID of an earlier
// request from the same source is answered with the cached replies to that earlier one even when
//   - it has ANOTHER method (e.g. a Register error response to a Connect request), or
//   - it arrived on ANOTHER server socket (the cached response leaves through the first socket,
//     so the client sees it come from an address it did not send to; RFC 8489 §6.3).
constexpr bool kTolerateDuplicateCacheKeyBugs = false;

// Earlier requests of this input, to recognise the cases above.
struct SeenRequest {
  SocketAddress source;
  TransactionId txid;
  std::uint16_t method;
  std::uint8_t socket;
};

// What the harness reads from a request itself (with the handler's own limits).
struct RequestFacts {
  TransactionId txid{};
  std::uint16_t type = 0;
  std::optional<std::uint32_t> change_flags;  // CHANGE-REQUEST
  std::optional<std::uint16_t> response_port;  // RESPONSE-PORT
  std::optional<Signal> signal;
};

RequestFacts read_request(const Datagram& in, const ServerConfig& config) {
  RequestFacts f;
  std::memcpy(f.txid.data(), in.bytes.data() + 8, f.txid.size());
  f.type = static_cast<std::uint16_t>((std::to_integer<unsigned>(in.bytes[0]) << 8) |
                                      std::to_integer<unsigned>(in.bytes[1]));
  ParseLimits limits;
  limits.max_message = config.max_message;
  limits.reject_unknown_required = false;
  auto m = parse_message(in.bytes, limits);
  if (!m) return f;
  if (const auto* c = m->find(stun::attr::kChangeRequest); c && c->value.size() == 4)
    f.change_flags = *ByteReader(c->value).u32();
  if (const auto* p = m->find(stun::attr::kResponsePort); p && p->value.size() == 4)
    f.response_port = *ByteReader(p->value).u16();
  if (auto sig = decode_signal(*m)) f.signal = *sig;
  return f;
}

void check_binding_success(const MessageView& m, const Reply& r, const Datagram& in, const RequestFacts& req,
                           const ServerConfig& config) {
  auto mapped = mapped_address_of(m);
  check(mapped.ok() && *mapped == in.source, "binding success reports the source address");
  // RFC 5780 §6.1: RESPONSE-PORT changes the port only, never the IP (no reflection elsewhere).
  check(r.destination.same_ip(in.source), "a binding response goes to the requester's IP");
  check(r.destination.port == (req.response_port ? *req.response_port : in.source.port),
        "a binding response goes to the source port, or RESPONSE-PORT when given");
  if (req.change_flags && (*req.change_flags & (stun::attr::kChangeIp | stun::attr::kChangePort))) {
    check(in.socket < config.sockets.size() && r.socket < config.sockets.size(), "CHANGE-REQUEST needs socket roles");
    const auto& from = config.sockets[in.socket];
    const auto& via = config.sockets[r.socket];
    check(via.group == from.group &&
              via.alternate_ip == (from.alternate_ip != ((*req.change_flags & stun::attr::kChangeIp) != 0)) &&
              via.alternate_port == (from.alternate_port != ((*req.change_flags & stun::attr::kChangePort) != 0)),
          "CHANGE-REQUEST answered from the socket its flags name");
  } else {
    check(r.socket == in.socket, "a binding response leaves through the socket the request came in on");
  }
  if (const auto* origin = m.find(stun::attr::kResponseOrigin)) {
    auto o = decode_plain_address(origin->value);
    check(o.ok() && r.socket < config.sockets.size() && *o == config.sockets[r.socket].address,
          "RESPONSE-ORIGIN is the address of the socket that sends the response");
  }
}

// What the amplification rule needs to know about one handle() call.
struct Proof {
  bool indication_refused = false;       // the handler left an indication out (unproven peer)
  std::function<bool(const SocketAddress&)> proven;  // after the request
};

void check_replies(const std::vector<Reply>& replies, const Datagram& in, const ServerConfig& config,
                   const std::vector<SeenRequest>& seen, const Proof& proof) {
  check(replies.size() <= 2, "at most two replies (response + indication)");
  // Amplification ≤ amplification_limit toward a source that has not proven its address, and no
  // indication to an address that has not (docs/security.md).
  for (const auto& r : replies) {
    auto h = read_header(r.bytes);
    check(h.has_value(), "every reply has a STUN header");
    bool response = stun::class_of(h->type) == stun::MessageClass::Success ||
                    stun::class_of(h->type) == stun::MessageClass::Error;
    if (response && !proof.proven(in.source))
      check(static_cast<double>(r.bytes.size()) <= config.amplification_limit * static_cast<double>(in.bytes.size()),
            "no answer to an unproven source is larger than its request");
    if (!response) check(proof.proven(r.destination), "indications go only to proven addresses");
  }
  if (replies.empty()) return;
  // Anything answered was a request that parsed far enough to read its header.
  check(in.bytes.size() >= stun::kHeaderSize, "only STUN-sized datagrams are answered");
  const RequestFacts req = read_request(in, config);
  check(stun::class_of(req.type) == stun::MessageClass::Request, "only requests are answered");

  const auto& known = fuzz::sources();
  std::optional<MessageView> response;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const Reply& r = replies[i];
    check(r.socket < 8, "replies leave through an existing socket");
    auto m = parse_message(r.bytes);
    check(m.ok(), "every reply parses with the default limits");
    if (std::getenv("FUZZ_TRACE"))
      std::fprintf(stderr, "request type 0x%04x from source %d socket %d -> reply %zu type 0x%04x socket %d\n",
                   req.type, static_cast<int>(std::find(known.begin(), known.end(), in.source) - known.begin()),
                   in.socket, i, m->type, r.socket);
    // (An answer to an unproven source may have lost it to fit: see limit_amplification.)
    check(m->has_fingerprint() || !proof.proven(in.source), "every reply to a proven source carries FINGERPRINT");

    if (i == 0) {
      // The response to the requester.
      bool same_request = m->method() == stun::method_of(req.type) &&
                          (r.socket == in.socket || (m->method() == stun::method::kBinding && req.change_flags));
      if (!same_request && kTolerateDuplicateCacheKeyBugs) {
        bool earlier = std::any_of(seen.begin(), seen.end(), [&](const SeenRequest& s) {
          return s.source == in.source && s.txid == req.txid && s.method == m->method() && s.socket == r.socket;
        });
        if (earlier) break;  // a cached answer to the earlier request: checked when first sent
      }
      check(m->transaction == req.txid, "the response echoes the transaction ID");
      check(m->method() == stun::method_of(req.type), "the response has the request's method");
      if (m->cls() == stun::MessageClass::Success && m->method() == stun::method::kBinding) {
        check_binding_success(*m, r, in, req, config);
        response = *m;
        continue;
      }
      check(r.destination == in.source && r.socket == in.socket, "the response goes back the way it came");
      if (m->cls() == stun::MessageClass::Error) {
        auto e = decode_error_response(*m);
        check(e.ok(), "an error response decodes");
        check(e->code >= 300 && e->code <= 699, "error code in range");
        check(replies.size() == 1, "an error response comes alone");
        continue;
      }
      check(m->cls() == stun::MessageClass::Success, "a response is a success or an error");
      switch (m->method()) {
        case stun::method::kRegister: {
          auto resp = decode_register_response(*m);
          check(resp.ok() && resp->mapped == in.source, "register success reports the source address");
          check(resp->lifetime_s >= 1 && resp->lifetime_s <= config.ttl.count(), "granted lifetime within 1..ttl");
          break;
        }
        case stun::method::kConnect: {
          auto info = decode_peer_info(*m);
          check(info.ok() && info->initiator, "connect success is peer-info for the initiator");
          check(replies.size() == 2 || proof.indication_refused,
                "a connect success comes with an indication for the peer, unless the peer is unproven");
          break;
        }
        case stun::method::kSignal:
          check(req.signal.has_value(), "a signal success answers a well-formed signal request");
          check(replies.size() == 2 || proof.indication_refused,
                "a signal success comes with the relayed indication, unless the peer is unproven");
          break;
        default: violated("success response for a method the server does not serve");
      }
      response = *m;
    } else {
      // The indication to the other side: always to a registered device, i.e. one of our sources.
      check(std::find(known.begin(), known.end(), r.destination) != known.end(), "indications go to a known source");
      check(response.has_value(), "an indication follows a response");
      check(m->cls() == stun::MessageClass::Indication, "the second reply is an indication");
      if (response->method() == stun::method::kConnect) {
        check(m->method() == stun::method::kPeerInfo, "a connect is followed by a peer-info indication");
        auto to_peer = decode_peer_info(*m);
        check(to_peer.ok() && !to_peer->initiator, "the indication decodes, for the non-initiator");
        auto to_requester = decode_peer_info(*response);
        check(to_requester->token == to_peer->token, "both sides get the same attempt token");
        check(to_peer->peer_mapped == in.source, "the peer learns the requester's observed address");
        check(to_requester->peer_mapped == r.destination, "the requester learns where the indication went");
      } else {
        check(response->method() == stun::method::kSignal && m->method() == stun::method::kSignal,
              "a signal is followed by a signal indication");
        auto relayed = decode_signal(*m);
        check(relayed.ok() && req.signal && relayed->from == req.signal->from && relayed->to == req.signal->to &&
                  relayed->token == req.signal->token && relayed->kind == req.signal->kind &&
                  relayed->hint == req.signal->hint,
              "the relayed signal is the one sent");
      }
    }
  }
}

}  // namespace
}  // namespace natpunch

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  const ServerConfig config = fuzz::handler_config();
  RequestHandler handler(config, fuzz::deterministic_random());

  TimePoint now = TimePoint{} + std::chrono::hours(1000);
  std::uint64_t handled = 0;
  std::vector<SeenRequest> seen;
  // Sources 0 and 2 prove their address first, as natpunch's clients do: a padded request earns a
  // challenge with the nonce, which a Binding then quotes. Sources 1 and 3 stay unproven.
  for (std::size_t s : {0u, 2u}) {
    const auto& source = fuzz::sources()[s];
    TransactionId t{};
    t[0] = std::byte{0xf0};
    t[1] = std::byte(s);
    auto probe = padded_to(
        encode_connect_request({DeviceId{IdKind::UserName, "p"}, DeviceId{IdKind::UserName, "q"}}, t), 200);
    auto challenge = handler.handle(Datagram{probe, source, 0}, now);
    check(challenge.size() == 1, "an unproven connect is challenged");
    auto m = parse_message(challenge[0].bytes);
    const auto* nonce = m ? m->find(stun::attr::kNonce) : nullptr;
    check(nonce != nullptr, "a padded request's challenge carries the nonce");
    t[2] = std::byte{1};
    auto quote = with_attribute(MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, t).finish(),
                                stun::attr::kNonce, nonce->value);
    handler.handle(Datagram{quote, source, 0}, now);
    check(handler.proven_sources().proven(source, now), "quoting the nonce proves the source");
    handled += 2;
  }
  for (const auto& chunk : split(ByteView(reinterpret_cast<const std::byte*>(data), size))) {
    now += std::chrono::seconds(20 * (chunk.control >> 6));
    if (chunk.control & 0x20) handler.tick(now);
    Datagram in{chunk.bytes, fuzz::sources()[chunk.control & 0x03], static_cast<std::uint8_t>((chunk.control >> 2) & 0x07)};
    auto refused_before = handler.counters().indications_refused;
    auto replies = handler.handle(in, now);
    ++handled;
    Proof proof{handler.counters().indications_refused > refused_before,
                [&](const SocketAddress& a) { return handler.proven_sources().proven(a, now); }};
    check_replies(replies, in, config, seen, proof);
    if (in.bytes.size() >= stun::kHeaderSize) {
      SeenRequest r{in.source, {}, 0, in.socket};
      std::memcpy(r.txid.data(), in.bytes.data() + 8, r.txid.size());
      r.method = stun::method_of(static_cast<std::uint16_t>((std::to_integer<unsigned>(in.bytes[0]) << 8) |
                                                           std::to_integer<unsigned>(in.bytes[1])));
      seen.push_back(r);
    }
    check(handler.registry().size() <= config.max_registrations, "the registry stays within its bound");
  }
  check(handler.counters().datagrams == handled, "every datagram is counted");
  return 0;
}
