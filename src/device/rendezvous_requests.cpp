#include "device/rendezvous_requests.h"

#include "identity/signed_request.h"
#include "wire/bytes.h"
#include "wire/padding.h"

namespace natpunch {

namespace {
Bytes finished(Bytes request, const DeviceKey* key, const std::optional<std::string>& nonce, std::size_t pad_to) {
  if (key) return sign_request(request, *key, nonce);  // large enough for the answers it gets
  if (nonce) request = with_attribute(request, stun::attr::kNonce, as_bytes(*nonce));
  return padded_to(request, pad_to);
}
}  // namespace

Bytes registration_request(const RegisterRequest& r, const TransactionId& txid, Family server_family,
                           const DeviceKey* key, const std::optional<std::string>& nonce) {
  return finished(encode_register_request(r, txid), key, nonce, register_response_size(server_family));
}

Bytes connection_request(const ConnectRequest& r, const TransactionId& txid, const DeviceKey* key,
                         const std::optional<std::string>& nonce) {
  return finished(encode_connect_request(r, txid), key, nonce, 0);
}

NonceStep NonceBook::after_answer(const MessageView& answer, ClientRequest kind, bool signing, int round,
                                  const std::optional<std::string>& quoted) {
  if (round >= 2) return NonceStep::Done;
  const auto* n = answer.find(stun::attr::kNonce);
  if (!n) return NonceStep::Done;
  std::string fresh(as_text(n->value));
  if (current_ != fresh) {
    previous_ = std::move(current_);
    current_ = fresh;
  }
  if (quoted == fresh) return NonceStep::Done;  // the nonce quoted: nothing new to prove
  if (answer.cls() == stun::MessageClass::Success)
    return kind == ClientRequest::Register ? NonceStep::AgainQuotingNonce : NonceStep::Done;
  auto e = decode_error_response(answer);
  if (!e || (e->code != stun::error_code::kUnauthenticated && e->code != stun::error_code::kStaleNonce))
    return NonceStep::Done;
  // Unsigned, a refused registration is not a nonce problem (the ID wants a signature); a connect
  // refused for want of a proven address is ("Nonce required"): again, quoting it.
  if (!signing && kind == ClientRequest::Register) return NonceStep::Done;
  return NonceStep::AgainQuotingNonce;
}

bool NonceBook::vouches_for(const PeerInfo& info, bool signing) const {
  if (!signing) return true;
  return info.nonce && (info.nonce == current_ || info.nonce == previous_);
}

void NonceBook::forget() {
  current_.reset();
  previous_.reset();
}

}  // namespace natpunch
