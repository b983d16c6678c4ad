#include "server/nonce.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "wire/bytes.h"

namespace natpunch {

NonceIssuer::NonceIssuer(const RandomSource& random, std::chrono::seconds period)
    : period_(period.count() > 0 ? period : std::chrono::seconds(300)) {
  random(secret_);
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed_.reset(hmac ? EVP_MAC_CTX_new(hmac) : nullptr, EVP_MAC_CTX_free);
  EVP_MAC_free(hmac);  // the context holds its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (keyed_ &&
      EVP_MAC_init(keyed_.get(), reinterpret_cast<const unsigned char*>(secret_.data()), secret_.size(), params) != 1)
    keyed_.reset();
}

std::int64_t NonceIssuer::period_of(TimePoint now) const {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() / period_.count();
}

std::string NonceIssuer::make(const SocketAddress& source, std::int64_t period) const {
  unsigned char msg[8 + 1 + 16 + 2];
  for (int i = 0; i < 8; ++i) msg[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(period) >> (8 * i));
  msg[8] = static_cast<unsigned char>(source.family);
  for (int i = 0; i < 16; ++i) msg[9 + i] = source.ip[static_cast<std::size_t>(i)];
  msg[25] = static_cast<unsigned char>(source.port >> 8);
  msg[26] = static_cast<unsigned char>(source.port);
  unsigned char mac[EVP_MAX_MD_SIZE]{};
  std::size_t len = 0;
  // A nonce nobody can forge, or none: without OpenSSL's HMAC this returns "", and check() refuses
  // every nonce (no source is ever proven, so nothing is answered beyond its request's size).
  if (std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> c(keyed_ ? EVP_MAC_CTX_dup(keyed_.get()) : nullptr,
                                                                  EVP_MAC_CTX_free);
      !c || EVP_MAC_update(c.get(), msg, sizeof msg) != 1 || EVP_MAC_final(c.get(), mac, &len, sizeof mac) != 1)
    return {};
  std::array<std::byte, 8> be{};  // the period, big-endian: its hex reads as the number
  for (int i = 0; i < 8; ++i)
    be[static_cast<std::size_t>(i)] =
        std::byte(static_cast<std::uint8_t>(static_cast<std::uint64_t>(period) >> (56 - 8 * i)));
  return "np1-" + to_hex(be) + "-" + to_hex(ByteView(reinterpret_cast<const std::byte*>(mac), 16));
}

std::string NonceIssuer::issue(const SocketAddress& source, TimePoint now) const {
  return make(source, period_of(now));
}

NonceIssuer::Check NonceIssuer::check(std::string_view nonce, const SocketAddress& source, TimePoint now) const {
  // "np1-" + 16 hex (period) + "-" + 32 hex (MAC)
  if (nonce.size() != 4 + 16 + 1 + 32 || nonce.substr(0, 4) != "np1-" || nonce[20] != '-') return Check::Wrong;
  auto digits = from_hex(nonce.substr(4, 16));
  if (!digits || digits->size() != 8) return Check::Wrong;
  std::uint64_t p = 0;
  for (auto d : *digits) p = p << 8 | std::to_integer<std::uint64_t>(d);
  auto period = static_cast<std::int64_t>(p);
  auto expect = make(source, period);
  if (expect.size() != nonce.size() || CRYPTO_memcmp(expect.data(), nonce.data(), nonce.size()) != 0)
    return Check::Wrong;
  auto current = period_of(now);
  if (period > current) return Check::Wrong;
  return current - period <= 1 ? Check::Valid : Check::Stale;
}

}  // namespace natpunch
