// TLS 1.3 identity for a QUIC session: a self-signed X.509 certificate carrying the device's Ed25519
// identity key (no CA, no names: the key is the identity), and the pin check that compares the
// peer's certificate key with the key the rendezvous server's peer-info delivered, the way WebRTC
// pins DTLS fingerprints. GnuTLS objects are owned here and freed with their owner.
#pragma once

#include <gnutls/gnutls.h>

#include <optional>
#include <string>

#include "identity/device_key.h"
#include "wire/result.h"

namespace natpunch {

class TlsCredentials {
 public:
  // Credentials presenting a certificate for `key` (the seed is copied into GnuTLS, not kept here).
  static Result<TlsCredentials, std::string> from_key(const DeviceKey& key);

  TlsCredentials(TlsCredentials&& o) noexcept : cred_(o.cred_) { o.cred_ = nullptr; }
  TlsCredentials& operator=(TlsCredentials&& o) noexcept;
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;
  ~TlsCredentials();

  gnutls_certificate_credentials_t get() const { return cred_; }

 private:
  TlsCredentials() = default;
  gnutls_certificate_credentials_t cred_ = nullptr;
};

// The Ed25519 key in the peer's certificate, when the peer sent exactly one certificate and it
// holds an Ed25519 key; nullopt otherwise. (TLS 1.3's CertificateVerify, checked by GnuTLS, proves
// the peer holds the matching secret key.)
std::optional<PublicKey> peer_certificate_key(gnutls_session_t session);

// "natpunch/1": both sides require it (ngtcp2 does not check ALPN itself).
inline constexpr std::string_view kAlpn = "natpunch/1";

}  // namespace natpunch
