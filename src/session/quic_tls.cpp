// The GnuTLS half of a QUIC session: the TLS 1.3 session ngtcp2's crypto helpers drive, set up for
// mutual authentication with the device-key certificates of tls_identity.h and the pinned peer key.
#include "session/quic_tls.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

#include "session/quic_session_impl.h"
#include "session/tls_identity.h"

namespace natpunch {

namespace {
// TLS 1.3 only, AEADs and groups QUIC uses; no middlebox compatibility mode (RFC 9001 §8.4).
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";
}  // namespace

namespace quic {
std::string alert_text(std::uint64_t alert) {
  const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
  return "TLS alert " + std::to_string(alert) + (name ? std::string(" (") + name + ")" : "");
}
}  // namespace quic

int QuicSession::Impl::verify_peer(gnutls_session_t session) {
  auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session));
  auto& impl = *static_cast<Impl*>(ref->user_data);
  auto& s = *impl.self;
  s.pin_checked_ = true;
  auto key = natpunch::peer_certificate_key(session);
  if (!key) {
    impl.pin_mismatch = true;
    return -1;
  }
  s.seen_peer_key_ = key;
  if (s.config_.peer_key && sodium_memcmp(key->data(), s.config_.peer_key->data(), kPublicKeySize) != 0) {
    impl.pin_mismatch = true;
    return -1;
  }
  return 0;
}

Result<bool, std::string> QuicSession::init_tls(const DeviceKey& key) {
  auto cred = TlsCredentials::from_key(key);
  if (!cred) return fail(cred.error());
  impl_->cred.emplace(std::move(*cred));
  bool client = config_.role == SessionRole::Client;
  int rv = gnutls_init(&impl_->tls, (client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_NO_END_OF_EARLY_DATA);
  if (rv < 0) return fail(std::string("gnutls_init: ") + gnutls_strerror(rv));
  rv = client ? ngtcp2_crypto_gnutls_configure_client_session(impl_->tls)
              : ngtcp2_crypto_gnutls_configure_server_session(impl_->tls);
  if (rv != 0) return fail(std::string("configuring the TLS session for QUIC failed"));
  if ((rv = gnutls_priority_set_direct(impl_->tls, kPriority, nullptr)) < 0 ||
      (rv = gnutls_credentials_set(impl_->tls, GNUTLS_CRD_CERTIFICATE, impl_->cred->get())) < 0)
    return fail(std::string("TLS setup: ") + gnutls_strerror(rv));
  // Mutual authentication: the server demands the client's certificate (alert 116 without one).
  if (!client) gnutls_certificate_server_set_request(impl_->tls, GNUTLS_CERT_REQUIRE);
  gnutls_session_set_verify_function(impl_->tls, &Impl::verify_peer);
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpn.data())),
                      static_cast<unsigned>(kAlpn.size())};
  rv = gnutls_alpn_set_protocols(impl_->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  if (rv < 0) return fail(std::string("TLS ALPN: ") + gnutls_strerror(rv));
  // The slot belongs to ngtcp2's crypto helpers: they find the connection through it.
  gnutls_session_set_ptr(impl_->tls, &impl_->ref);
  return true;
}

}  // namespace natpunch
