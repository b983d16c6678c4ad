#include "session/tls_identity.h"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include <chrono>
#include <cstring>

namespace natpunch {

namespace {
// RAII for the GnuTLS objects used while making the certificate.
struct PrivKey {
  gnutls_x509_privkey_t k = nullptr;
  ~PrivKey() { if (k) gnutls_x509_privkey_deinit(k); }
};
struct Cert {
  gnutls_x509_crt_t c = nullptr;
  ~Cert() { if (c) gnutls_x509_crt_deinit(c); }
};
struct PubKey {
  gnutls_pubkey_t k = nullptr;
  ~PubKey() { if (k) gnutls_pubkey_deinit(k); }
};

std::string gnutls_failure(const char* step, int rv) { return std::string(step) + ": " + gnutls_strerror(rv); }
}  // namespace

TlsCredentials& TlsCredentials::operator=(TlsCredentials&& o) noexcept {
  if (this != &o) {
    if (cred_) gnutls_certificate_free_credentials(cred_);
    cred_ = o.cred_;
    o.cred_ = nullptr;
  }
  return *this;
}

TlsCredentials::~TlsCredentials() {
  if (cred_) gnutls_certificate_free_credentials(cred_);
}

Result<TlsCredentials, std::string> TlsCredentials::from_key(const DeviceKey& key) {
  PrivKey pk;
  int rv = gnutls_x509_privkey_init(&pk.k);
  if (rv < 0) return fail(gnutls_failure("gnutls_x509_privkey_init", rv));
  auto seed = key.seed();
  const auto& pub = key.public_key();
  gnutls_datum_t x{reinterpret_cast<unsigned char*>(const_cast<std::byte*>(pub.data())), kPublicKeySize};
  gnutls_datum_t k{reinterpret_cast<unsigned char*>(const_cast<std::byte*>(seed.data())), kSeedSize};
  rv = gnutls_x509_privkey_import_ecc_raw(pk.k, GNUTLS_ECC_CURVE_ED25519, &x, nullptr, &k);
  if (rv < 0) return fail(gnutls_failure("importing the identity key", rv));
  // The import does not check that the public half matches the seed; a mismatch would only show as
  // handshakes failing with bad signatures.
  rv = gnutls_x509_privkey_verify_params(pk.k);
  if (rv < 0) return fail(gnutls_failure("checking the identity key", rv));

  Cert crt;
  rv = gnutls_x509_crt_init(&crt.c);
  if (rv < 0) return fail(gnutls_failure("gnutls_x509_crt_init", rv));
  unsigned char serial[16];
  randombytes_buf(serial, sizeof serial);
  serial[0] &= 0x7F;  // a positive INTEGER
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const char* cn = "natpunch device";
  if ((rv = gnutls_x509_crt_set_version(crt.c, 3)) < 0 ||
      (rv = gnutls_x509_crt_set_serial(crt.c, serial, sizeof serial)) < 0 ||
      (rv = gnutls_x509_crt_set_activation_time(crt.c, now - 24 * 3600)) < 0 ||
      (rv = gnutls_x509_crt_set_expiration_time(crt.c, now + 30 * 24 * 3600)) < 0 ||
      (rv = gnutls_x509_crt_set_dn_by_oid(crt.c, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                          static_cast<unsigned>(std::strlen(cn)))) < 0 ||
      (rv = gnutls_x509_crt_set_key(crt.c, pk.k)) < 0 ||
      (rv = gnutls_x509_crt_sign2(crt.c, crt.c, pk.k, GNUTLS_DIG_UNKNOWN, 0)) < 0)
    return fail(gnutls_failure("making the session certificate", rv));

  TlsCredentials out;
  rv = gnutls_certificate_allocate_credentials(&out.cred_);
  if (rv < 0) return fail(gnutls_failure("gnutls_certificate_allocate_credentials", rv));
  // GnuTLS copies the certificate and key; ours are freed on return.
  rv = gnutls_certificate_set_x509_key(out.cred_, &crt.c, 1, pk.k);
  if (rv < 0) return fail(gnutls_failure("loading the session certificate", rv));
  return out;
}

std::optional<PublicKey> peer_certificate_key(gnutls_session_t session) {
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (certs == nullptr || count != 1) return std::nullopt;
  PubKey pub;
  if (gnutls_pubkey_init(&pub.k) < 0) return std::nullopt;
  if (gnutls_pubkey_import_x509_raw(pub.k, &certs[0], GNUTLS_X509_FMT_DER, 0) < 0) return std::nullopt;
  gnutls_ecc_curve_t curve{};
  gnutls_datum_t x{}, y{};
  if (gnutls_pubkey_export_ecc_raw2(pub.k, &curve, &x, &y, GNUTLS_EXPORT_FLAG_NO_LZ) < 0) return std::nullopt;
  std::optional<PublicKey> out;
  if (curve == GNUTLS_ECC_CURVE_ED25519 && x.size == kPublicKeySize) {
    out.emplace();
    std::memcpy(out->data(), x.data, kPublicKeySize);
  }
  gnutls_free(x.data);
  gnutls_free(y.data);
  return out;
}

}  // namespace natpunch
