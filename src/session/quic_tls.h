// The TLS side of a QUIC session (QuicSession::init_tls and the certificate check are defined in
// quic_tls.cpp): what the engine needs to put a TLS alert into words. Internal to src/session.
#pragma once

#include <cstdint>
#include <string>

namespace natpunch::quic {

// "TLS alert 42 (Bad certificate)": the alert's number and GnuTLS's name for it, when it has one.
std::string alert_text(std::uint64_t alert);

}  // namespace natpunch::quic
