#include "wire/integrity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>

namespace natpunch {

Sha1Digest integrity_value(ByteView prefix, std::uint16_t length_field, ByteView key) {
  Bytes copy(prefix.begin(), prefix.end());
  if (copy.size() >= 4) put_u16_at(copy, 2, length_field);
  Sha1Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(copy.data()), copy.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

bool integrity_matches(const MessageView& m, ByteView key) {
  for (const auto& a : m.attributes) {
    if (a.type != stun::attr::kMessageIntegrity) continue;
    if (a.value.size() != 20) return false;
    auto length_field = static_cast<std::uint16_t>(a.offset + 24 - stun::kHeaderSize);
    auto expect = integrity_value(m.raw.first(a.offset), length_field, key);
    return CRYPTO_memcmp(expect.data(), a.value.data(), 20) == 0;
  }
  return false;
}

Bytes long_term_key(std::string_view username, std::string_view realm, std::string_view password) {
  std::string s = std::string(username) + ":" + std::string(realm) + ":" + std::string(password);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  Bytes out(len);
  std::memcpy(out.data(), md, len);
  return out;
}

}  // namespace natpunch
