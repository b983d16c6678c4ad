#include "server/request_handler.h"

#include "relay/turn_message.h"

#include <algorithm>

#include "identity/signed_request.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/padding.h"

namespace natpunch {

using stun::MessageClass;

RequestHandler::RequestHandler(ServerConfig config, RandomSource random)
    : config_(config),
      random_(std::move(random)),
      registry_(config.max_registrations, config.max_registrations_per_ip),
      duplicates_(config.duplicate_cache_entries, config.duplicate_window),
      nonces_(random_, config.nonce_period),
      keys_(config.max_key_bindings, config.authorized_keys),
      attempts_(config.max_attempts, config.attempt_lifetime),
      limiter_(config.rate_limits, config.max_rate_limited_sources),
      // A nonce is good for its period and the next (nonce.h): so is the proof.
      proven_(config.max_proven_sources, 2 * config.nonce_period) {}

namespace {

// The rate-limit kind of a datagram, from its header alone (before any parsing work).
RequestKind kind_of(ByteView datagram) {
  auto header = read_header(datagram);
  if (!header || stun::class_of(header->type) != MessageClass::Request) return RequestKind::Other;
  switch (stun::method_of(header->type)) {
    case stun::method::kBinding: return RequestKind::Binding;
    case stun::method::kRegister: return RequestKind::Register;
    case stun::method::kConnect: return RequestKind::Connect;
    case stun::method::kSignal: return RequestKind::Signal;
    default: return RequestKind::Other;
  }
}

// What a reply may lose to fit, in this order: nothing a client needs to use the answer.
// SOFTWARE; the reason phrase of ERROR-CODE; RESPONSE-ORIGIN; NONCE; FINGERPRINT (RFC 8489 §7:
// optional for Binding, natpunch's clients match answers by transaction ID); OTHER-ADDRESS.
constexpr std::uint16_t kReasonPhrase = 0;  // marker: ERROR-CODE without its reason
constexpr std::array<std::uint16_t, 6> kTrimOrder{stun::attr::kSoftware,       kReasonPhrase,
                                                  stun::attr::kResponseOrigin, stun::attr::kNonce,
                                                  stun::attr::kFingerprint,    stun::attr::kOtherAddress};

// `reply` (our own encoding) re-encoded without the first `steps` kinds of kTrimOrder.
Bytes trimmed(const MessageView& reply, std::size_t steps) {
  auto dropped = [&](std::uint16_t type) {
    return std::find(kTrimOrder.begin(), kTrimOrder.begin() + static_cast<std::ptrdiff_t>(steps), type) !=
           kTrimOrder.begin() + static_cast<std::ptrdiff_t>(steps);
  };
  MessageBuilder b(reply.method(), reply.cls(), reply.transaction);
  for (const auto& a : reply.attributes) {
    if (a.type == stun::attr::kFingerprint || dropped(a.type)) continue;
    if (a.type == stun::attr::kErrorCode && dropped(kReasonPhrase) && a.value.size() > 4) {
      b.add(a.type, a.value.first(4));  // class and number, no reason
      continue;
    }
    b.add(a.type, a.value);
  }
  return b.finish(std::nullopt, !dropped(stun::attr::kFingerprint) && reply.has_fingerprint());
}

bool is_response(ByteView reply) {
  auto h = read_header(reply);
  return h && (stun::class_of(h->type) == MessageClass::Success || stun::class_of(h->type) == MessageClass::Error);
}

}  // namespace

std::vector<Reply> RequestHandler::handle(const Datagram& in, TimePoint now) {
  ++counters_.datagrams;
  // Over its rate: dropped before parsing, unanswered (an answer would be traffic an attacker
  // could aim at a spoofed source).
  auto kind = kind_of(in.bytes);
  if (!limiter_.allow(in.source, kind, now)) {
    ++counters_.rate_limited[static_cast<std::size_t>(kind)];
    return {};
  }
  return limit_amplification(in, answer(in, now), now);
}

std::vector<Reply> RequestHandler::limit_amplification(const Datagram& in, std::vector<Reply> replies, TimePoint now) {
  const bool proven = proven_.proven(in.source, now);
  const auto budget = static_cast<std::size_t>(config_.amplification_limit * static_cast<double>(in.bytes.size()));
  std::vector<Reply> out;
  out.reserve(replies.size());
  for (auto& r : replies) {
    if (!is_response(r.bytes)) {
      // An indication to a third party (the peer of a connect or signal): only to an address that
      // proved it receives there, else a spoofed registration would make the server a reflector.
      if (proven_.proven(r.destination, now)) {
        out.push_back(std::move(r));
      } else {
        ++counters_.indications_refused;
      }
      continue;
    }
    if (proven || r.bytes.size() <= budget) {
      out.push_back(std::move(r));
      continue;
    }
    auto m = parse_message(r.bytes, ParseLimits{65535, 64, false});
    std::optional<Bytes> fits;
    for (std::size_t steps = 1; m && steps <= kTrimOrder.size() && !fits; ++steps)
      if (auto t = trimmed(*m, steps); t.size() <= budget) fits = std::move(t);
    if (!fits) {
      ++counters_.amplification_refused;
      continue;
    }
    ++counters_.amplification_trimmed;
    r.bytes = std::move(*fits);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Reply> RequestHandler::answer(const Datagram& in, TimePoint now) {
  ParseLimits limits;
  limits.max_message = config_.max_message;
  limits.reject_unknown_required = false;  // we answer those with 420 instead
  auto parsed = parse_message(in.bytes, limits);
  if (!parsed) {
    counters_.drop(parsed.error());
    // A request whose header is valid but whose body is not gets a 400 (RFC 8489 §6.3); anything
    // else, including a bad FINGERPRINT (§7.3: "silently discarded"), is dropped.
    const bool body_error = parsed.error() == ParseError::BadAttributeLength ||
                            parsed.error() == ParseError::BadPadding || parsed.error() == ParseError::TooManyAttributes;
    if (auto header = read_header(in.bytes); body_error && header) {
      MessageView m;
      m.type = header->type;
      m.transaction = header->transaction;
      if (m.cls() == MessageClass::Request)
        return {error(m, in, stun::error_code::kBadRequest, "Malformed attributes")};
    }
    return {};
  }
  const MessageView& m = *parsed;
  // Only requests are served; indications and responses to the server are not expected.
  if (m.cls() != MessageClass::Request) {
    ++counters_.dropped_not_request;
    return {};
  }
  if (auto unknown = m.unknown_required(); !unknown.empty()) {
    // RFC 8489 §6.3.1.1: unknown comprehension-required attributes in a request → 420 listing them.
    return {error(m, in, stun::error_code::kUnknownAttribute, "Unknown Attribute", unknown)};
  }
  // A request quoting the nonce the server issued for its source proves it receives there.
  if (const auto* n = m.find(stun::attr::kNonce);
      n && nonces_.check(as_text(n->value), in.source, now) == NonceIssuer::Check::Valid) {
    ++counters_.sources_proven;
    proven_.prove(in.source, now);
  }
  if (m.method() == stun::method::kBinding) return on_binding(m, in);

  const DuplicateCache::Key key{in.source, in.socket, m.method(), m.transaction};
  if (const auto* cached = duplicates_.find(key, now)) {
    ++counters_.duplicate_requests;
    counters_.peer_info_sent += static_cast<std::uint64_t>(
        std::count_if(cached->begin(), cached->end(), [&](const Reply& r) { return r.destination != in.source; }));
    return *cached;
  }
  auto replies = dispatch(m, in, now);
  duplicates_.store(key, replies, now);
  return replies;
}

std::vector<Reply> RequestHandler::dispatch(const MessageView& m, const Datagram& in, TimePoint now) {
  switch (m.method()) {
    case stun::method::kRegister: return on_register(m, in, now);
    case stun::method::kConnect: return on_connect(m, in, now);
    case stun::method::kSignal: return on_signal(m, in, now);
    default: return {error(m, in, stun::error_code::kBadRequest, "Unknown method")};
  }
}

std::optional<std::uint8_t> RequestHandler::socket_with(std::uint8_t group, bool alternate_ip,
                                                        bool alternate_port) const {
  for (std::size_t i = 0; i < config_.sockets.size(); ++i) {
    const auto& r = config_.sockets[i];
    if (r.group == group && r.alternate_ip == alternate_ip && r.alternate_port == alternate_port)
      return static_cast<std::uint8_t>(i);
  }
  return std::nullopt;
}

std::vector<Reply> RequestHandler::on_binding(const MessageView& m, const Datagram& in) {
  ++counters_.binding_requests;
  std::uint8_t via = in.socket;
  const SocketRole* role = in.socket < config_.sockets.size() ? &config_.sockets[in.socket] : nullptr;
  std::optional<std::uint8_t> other;  // RFC 5780 §6.1: OTHER-ADDRESS is the alternate IP and port
  if (role) other = socket_with(role->group, !role->alternate_ip, !role->alternate_port);

  if (const auto* change = m.find(stun::attr::kChangeRequest)) {
    if (change->value.size() != 4) return {error(m, in, stun::error_code::kBadRequest, "Bad CHANGE-REQUEST")};
    ByteReader r(change->value);
    auto flags = *r.u32();
    // RFC 5780 §6.1: without an alternate address the server MUST answer CHANGE-REQUEST with 420.
    if (!role || !other)
      return {error(m, in, stun::error_code::kUnknownAttribute, "No alternate address", {stun::attr::kChangeRequest})};
    auto target = socket_with(role->group, role->alternate_ip ^ ((flags & stun::attr::kChangeIp) != 0),
                              role->alternate_port ^ ((flags & stun::attr::kChangePort) != 0));
    if (!target)
      return {error(m, in, stun::error_code::kUnknownAttribute, "No alternate address", {stun::attr::kChangeRequest})};
    ++counters_.change_requests;
    via = *target;
  }
  // RFC 5780 §6.1 RESPONSE-PORT: answer the requesting IP at another of its ports. Only the port
  // can change — never the IP (there is no RESPONSE-ADDRESS), so the answer stays with the requester.
  auto destination = in.source;
  if (const auto* rp = m.find(stun::attr::kResponsePort)) {
    ByteReader r(rp->value);
    auto port = r.u16();
    if (rp->value.size() != 4 || !port || *port == 0)
      return {error(m, in, stun::error_code::kBadRequest, "Bad RESPONSE-PORT")};
    destination.port = *port;
    ++counters_.response_port_requests;
  }
  ++counters_.responses_ok;
  MessageBuilder b(stun::method::kBinding, MessageClass::Success, m.transaction);
  b.add_xor_address(stun::attr::kXorMappedAddress, in.source);
  if (role && other) {
    // The response goes only to the requesting source (no RESPONSE-PORT / RESPONSE-ADDRESS).
    b.add_plain_address(stun::attr::kResponseOrigin, config_.sockets[via].address);
    b.add_plain_address(stun::attr::kOtherAddress, config_.sockets[*other].address);
  }
  return {Reply{b.finish(), destination, via}};
}

std::vector<Reply> RequestHandler::on_register(const MessageView& m, const Datagram& in, TimePoint now) {
  ++counters_.register_requests;
  auto req = decode_register_request(m);
  if (!req) return {error(m, in, stun::error_code::kBadRequest, "Bad register request")};
  std::optional<std::string> quoted;
  if (auto refused = authenticate(m, in, req->id, true, now, &quoted)) return {std::move(*refused)};

  auto lifetime = config_.ttl;
  if (req->lifetime_s)
    lifetime = std::clamp(std::chrono::seconds(*req->lifetime_s), std::chrono::seconds(1), config_.ttl);

  Registration r{req->id, in.source, req->locals, in.socket, req->nat, now, now + lifetime, req->allow, quoted};
  // A router mapping is passed on only on the IP the request came from: a mapping on any other IP
  // sits behind a further NAT (unreachable), and a device must not aim its peers' probes elsewhere.
  if (req->port_mapped && req->port_mapped->same_ip(in.source) && req->port_mapped->port != 0)
    r.port_mapped = req->port_mapped;
  else if (req->port_mapped)
    ++counters_.port_mappings_ignored;
  switch (registry_.upsert(std::move(r))) {
    case Registry::Upsert::Full: return {error(m, in, stun::error_code::kRegistryFull, "Registry full")};
    case Registry::Upsert::IpCapReached:
      ++counters_.registrations_capped;
      return {error(m, in, stun::error_code::kRegistryFull, "Too many registrations from this IP")};
    case Registry::Upsert::Created: ++counters_.registrations_created; break;
    case Registry::Upsert::Moved: ++counters_.registrations_moved; break;
    case Registry::Upsert::Refreshed: break;
  }
  ++counters_.responses_ok;
  RegisterResponse resp{in.source, static_cast<std::uint32_t>(lifetime.count())};
  // The nonce for this source: quoting it in later requests proves the device receives here (the
  // answer loses it when the request was too small to carry it back: see limit_amplification).
  auto nonce = nonces_.issue(in.source, now);
  return {Reply{with_attribute(encode_register_response(resp, m.transaction), stun::attr::kNonce, as_bytes(nonce)),
                in.source, in.socket}};
}

std::vector<Reply> RequestHandler::on_connect(const MessageView& m, const Datagram& in, TimePoint now) {
  ++counters_.connect_requests;
  // A connect request makes the server write to a third party: only from a proven source.
  if (!proven_.proven(in.source, now)) {
    ++counters_.connect_challenged;
    return {challenge(m, in, stun::error_code::kUnauthenticated, "Nonce required", now)};
  }
  auto req = decode_connect_request(m);
  if (!req) return {error(m, in, stun::error_code::kBadRequest, "Bad connect request")};
  if (req->self.value == req->peer.value)
    return {error(m, in, stun::error_code::kBadRequest, "Cannot connect to self")};
  // A relayed attempt sends the peer to the requester's relayed address: only to the relay this
  // server offers, so no one can aim a device's packets at a third party.
  if (req->relayed && (!config_.turn || !req->relayed->same_ip(config_.turn->server) || req->relayed->port == 0))
    return {error(m, in, stun::error_code::kBadRequest, "NP-RELAYED is not on the relay this server offers")};
  if (auto refused = authenticate(m, in, req->self, false, now)) return {std::move(*refused)};

  auto self = registry_.lookup(req->self.value, now);
  if (self.status != LookupStatus::Found) {
    if (self.status == LookupStatus::Expired) ++counters_.registrations_expired;
    return {error(m, in, stun::error_code::kForbidden, "Requester not registered")};
  }
  auto peer = registry_.lookup(req->peer.value, now);
  if (peer.status == LookupStatus::Unknown) {
    return {error(m, in, stun::error_code::kUnknownPeer, "Unknown peer")};
  }
  if (peer.status == LookupStatus::Expired) {
    ++counters_.registrations_expired;
    return {error(m, in, stun::error_code::kPeerExpired, "Peer registration expired")};
  }

  const Registration& target = *peer.entry;
  // The target said who may connect (NP-ALLOW): pass the request on only to a device that allows
  // the (authenticated) requester, so a stranger cannot make it spray anywhere.
  if (target.allow && !target.allow->allows(req->self)) {
    ++counters_.connect_not_allowed;
    return {small_error(m, in, stun::error_code::kForbidden, "Peer does not allow you")};
  }
  AttemptToken token{};
  random_(token);
  // The requester's mapping is where this request came from: the socket it will punch with.
  PeerInfo for_requester{target.id, target.mapped, target.locals, token, true, target.nat};
  PeerInfo for_target{self.entry->id, in.source, self.entry->locals, token, false, self.entry->nat};
  for_requester.peer_key = keys_.key_of(target.id);
  for_target.peer_key = keys_.key_of(self.entry->id);
  for_target.nonce = target.nonce;  // proves to the target that this peer-info is the server's
  for_requester.peer_port_mapped = target.port_mapped;
  for_target.peer_port_mapped = self.entry->port_mapped;
  for_target.peer_relayed = req->relayed;
  if (config_.turn) {
    // Each side gets its own time-limited credentials for the relay (coturn's shared-secret mode).
    auto expiry = in.unix_time + config_.turn->lifetime.count();
    auto grant = [&](const DeviceId& who) {
      auto c = turn::rest_credentials(config_.turn->secret, who.value, expiry);
      return TurnGrant{config_.turn->server, std::move(c.username), std::move(c.password)};
    };
    for_requester.turn = grant(self.entry->id);
    for_target.turn = grant(target.id);
  }
  attempts_.add(token, self.entry->id.value, target.id.value, now);

  TransactionId indication_id{};
  random_(indication_id);
  std::vector<Reply> out;
  out.push_back({encode_peer_info(for_requester, MessageClass::Success, stun::method::kConnect, m.transaction),
                 in.source, in.socket});
  out.push_back({encode_peer_info(for_target, MessageClass::Indication, stun::method::kPeerInfo, indication_id),
                 target.mapped, target.via_socket});
  ++counters_.responses_ok;
  ++counters_.peer_info_sent;
  return out;
}

std::vector<Reply> RequestHandler::on_signal(const MessageView& m, const Datagram& in, TimePoint now) {
  ++counters_.signal_requests;
  auto sig = decode_signal(m);
  if (!sig) return {error(m, in, stun::error_code::kBadRequest, "Bad signal")};
  // Relay only between the two sides of an attempt this server introduced, to a registered peer.
  if (!attempts_.allows(sig->token, sig->from.value, sig->to.value, now))
    return {error(m, in, stun::error_code::kForbidden, "No such attempt")};
  auto peer = registry_.lookup(sig->to.value, now);
  if (peer.status != LookupStatus::Found) return {error(m, in, stun::error_code::kUnknownPeer, "Unknown peer")};
  TransactionId indication_id{};
  random_(indication_id);
  ++counters_.responses_ok;
  ++counters_.signals_relayed;
  MessageBuilder ok(stun::method::kSignal, MessageClass::Success, m.transaction);
  return {Reply{ok.finish(), in.source, in.socket}, Reply{encode_signal(*sig, MessageClass::Indication, indication_id),
                                                          peer.entry->mapped, peer.entry->via_socket}};
}

Reply RequestHandler::error(const MessageView& m, const Datagram& in, int code, std::string_view reason,
                            const std::vector<std::uint16_t>& unknown) {
  ++counters_.error_responses[code];
  return Reply{encode_error_response(m.method(), m.transaction, code, reason, unknown), in.source, in.socket};
}

Reply RequestHandler::small_error(const MessageView& m, const Datagram& in, int code, std::string_view reason) {
  ++counters_.error_responses[code];
  auto bytes = encode_error_response(m.method(), m.transaction, code, reason, {});
  if (bytes.size() > in.bytes.size()) bytes = encode_error_response(m.method(), m.transaction, code, "", {});
  return Reply{std::move(bytes), in.source, in.socket};
}

Reply RequestHandler::challenge(const MessageView& m, const Datagram& in, int code, std::string_view reason,
                                TimePoint now) {
  ++counters_.error_responses[code];
  auto nonce = nonces_.issue(in.source, now);
  MessageBuilder b(m.method(), MessageClass::Error, m.transaction);
  b.add_error(code, reason);
  b.add(stun::attr::kNonce, as_bytes(nonce));
  // The source has not proven it receives here: handle() trims this to the request's size (the
  // reason goes first, then the nonce: a signed request is large enough for the nonce).
  return Reply{b.finish(), in.source, in.socket};
}

std::optional<Reply> RequestHandler::authenticate(const MessageView& m, const Datagram& in, const DeviceId& id,
                                                  bool may_bind, TimePoint now, std::optional<std::string>* quoted) {
  using stun::error_code::kForbidden;
  using stun::error_code::kUnauthenticated;
  auto sig = check_signature(m);
  if (sig.state == SignatureState::Invalid) {
    ++counters_.bad_signatures;
    return challenge(m, in, kUnauthenticated, "Bad signature", now);
  }
  if (sig.state == SignatureState::Unsigned) {
    // A device that never showed a key may go on unsigned, unless the operator requires keys.
    if (!config_.require_signatures && !keys_.key_of(id)) return std::nullopt;
    ++counters_.unsigned_refused;
    return challenge(m, in, kUnauthenticated, "Signature required", now);
  }
  // Signed: the nonce first (it proves the source address, so the rest cannot be replayed).
  auto nonce = sig.nonce ? nonces_.check(*sig.nonce, in.source, now) : NonceIssuer::Check::Wrong;
  if (nonce == NonceIssuer::Check::Wrong) {
    ++counters_.nonce_challenges;
    return challenge(m, in, kUnauthenticated, "Nonce required", now);
  }
  if (nonce == NonceIssuer::Check::Stale) {
    ++counters_.stale_nonces;
    return challenge(m, in, stun::error_code::kStaleNonce, "Stale nonce", now);
  }
  auto outcome = KeyBindings::Outcome::Matches;
  if (may_bind) {
    outcome = keys_.check_or_bind(id, sig.key);
  } else if (auto bound = keys_.key_of(id)) {
    outcome = *bound == sig.key ? KeyBindings::Outcome::Matches : KeyBindings::Outcome::Mismatch;
  } else if (config_.require_signatures || keys_.authorized_list()) {
    outcome = KeyBindings::Outcome::NotAuthorized;  // signed, but the ID never registered a key
  }
  switch (outcome) {
    case KeyBindings::Outcome::Bound: ++counters_.keys_bound; [[fallthrough]];
    case KeyBindings::Outcome::Matches:
      ++counters_.signed_requests;
      if (quoted) *quoted = sig.nonce;
      return std::nullopt;
    case KeyBindings::Outcome::Mismatch:
      ++counters_.key_mismatches;
      return error(m, in, kForbidden, "ID bound to another key");
    case KeyBindings::Outcome::NotAuthorized:
      ++counters_.not_authorized;
      return error(m, in, kForbidden, "ID not authorized");
    case KeyBindings::Outcome::Full: return error(m, in, stun::error_code::kRegistryFull, "Key bindings full");
  }
  return error(m, in, kForbidden, "Refused");
}

void RequestHandler::tick(TimePoint now) {
  counters_.registrations_expired += registry_.sweep(now);
  duplicates_.expire(now);
  attempts_.expire(now);
  limiter_.expire(now);
  proven_.expire(now);
  counters_.rate_table_evictions = limiter_.evictions();
  counters_.proven_table_evictions = proven_.evictions();
}

}  // namespace natpunch
