// The rendezvous server's request handler: a pure function of (datagram, source, receiving socket,
// now) → replies, like stuntman's ProcessRequest. Sockets live around it (src/io), not inside it.
#pragma once

#include <vector>

#include "server/attempt_table.h"
#include "server/counters.h"
#include "server/duplicate_cache.h"
#include "server/key_bindings.h"
#include "server/nonce.h"
#include "server/proven_sources.h"
#include "wire/random_source.h"
#include "server/rate_limiter.h"
#include "server/registry.h"
#include "server/server_config.h"
#include "wire/clock.h"
#include "wire/message.h"

namespace natpunch {

struct Datagram {
  ByteView bytes;
  SocketAddress source;
  std::uint8_t socket = 0;  // index of the server socket it arrived on
  std::int64_t unix_time = 0;  // seconds since 1970 when it arrived (expiry of TURN credentials)
};

class RequestHandler {
 public:
  RequestHandler(ServerConfig config, RandomSource random);

  // Rate-limited per source IP and request kind (excess dropped unanswered), then answered; the
  // answers to a source that has not proven it receives at its address are never larger than
  // `amplification_limit` × the request, and indications go only to proven addresses.
  std::vector<Reply> handle(const Datagram& in, TimePoint now);
  // Housekeeping: expire registrations, remembered answers, rate-limit and proven-source entries.
  void tick(TimePoint now);

  void count_send_error() { ++counters_.send_errors; }
  const ServerCounters& counters() const { return counters_; }
  const Registry& registry() const { return registry_; }
  const KeyBindings& key_bindings() const { return keys_; }
  const ProvenSources& proven_sources() const { return proven_; }
  const RateLimiter& rate_limiter() const { return limiter_; }

 private:
  std::vector<Reply> answer(const Datagram& in, TimePoint now);
  // Applies the amplification rule to `replies` (see handle()).
  std::vector<Reply> limit_amplification(const Datagram& in, std::vector<Reply> replies, TimePoint now);
  std::vector<Reply> dispatch(const MessageView& m, const Datagram& in, TimePoint now);
  std::vector<Reply> on_binding(const MessageView& m, const Datagram& in);
  // The socket of the same group with the given IP/port roles, if the server has it.
  std::optional<std::uint8_t> socket_with(std::uint8_t group, bool alternate_ip, bool alternate_port) const;
  std::vector<Reply> on_register(const MessageView& m, const Datagram& in, TimePoint now);
  std::vector<Reply> on_connect(const MessageView& m, const Datagram& in, TimePoint now);
  std::vector<Reply> on_signal(const MessageView& m, const Datagram& in, TimePoint now);
  Reply error(const MessageView& m, const Datagram& in, int code, std::string_view reason,
              const std::vector<std::uint16_t>& unknown = {});
  // An error reply never larger than the request (the reason phrase is left out when it would be).
  Reply small_error(const MessageView& m, const Datagram& in, int code, std::string_view reason);
  Reply challenge(const MessageView& m, const Datagram& in, int code, std::string_view reason, TimePoint now);
  // The identity gate for a request by `id`: an error reply when it may not proceed. `may_bind`:
  // a registration may bind a first key; a connect request must match the bound one.
  // `quoted`: set to the request's NONCE when it was signed and passed.
  std::optional<Reply> authenticate(const MessageView& m, const Datagram& in, const DeviceId& id, bool may_bind,
                                    TimePoint now, std::optional<std::string>* quoted = nullptr);

  ServerConfig config_;
  RandomSource random_;
  Registry registry_;
  DuplicateCache duplicates_;
  NonceIssuer nonces_;
  KeyBindings keys_;
  AttemptTable attempts_;
  RateLimiter limiter_;
  ProvenSources proven_;
  ServerCounters counters_;
};

}  // namespace natpunch
