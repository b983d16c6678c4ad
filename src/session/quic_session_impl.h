// QuicSession's state that ngtcp2 and GnuTLS hold and reach through their user-data pointers, and
// the callbacks they call. The GnuTLS ones are defined in quic_tls.cpp, the ngtcp2 ones with the
// engine in quic_session.cpp. Internal to src/session.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "identity/device_key.h"
#include "session/quic_session.h"
#include "session/tls_identity.h"

namespace natpunch {

struct QuicSession::Impl {
  QuicSession* self = nullptr;
  ngtcp2_conn* conn = nullptr;
  gnutls_session_t tls = nullptr;
  ngtcp2_crypto_conn_ref ref{};
  std::optional<TlsCredentials> cred;
  std::optional<DeviceKey> ephemeral;
  bool pin_mismatch = false;

  ~Impl() {
    if (conn) ngtcp2_conn_del(conn);
    if (tls) gnutls_deinit(tls);
  }

  static Impl& of(void* user_data) { return *static_cast<Impl*>(user_data); }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) { return static_cast<Impl*>(ref->user_data)->conn; }

  // GnuTLS's certificate check for this session: exactly one Ed25519 certificate, and its key must
  // be the pinned one when we have one. Non-zero aborts the handshake with an alert.
  static int verify_peer(gnutls_session_t session);

  // ngtcp2's callbacks.
  static void rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*);
  static int new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* user_data);
  static int handshake_completed(ngtcp2_conn*, void* user_data);
  static int handshake_confirmed(ngtcp2_conn*, void* user_data);
  static int recv_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream, uint64_t, const uint8_t* data,
                              size_t len, void* user_data, void*);
  static int recv_datagram(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t len, void* user_data);
  static int stream_close(ngtcp2_conn* conn, uint32_t, int64_t stream, uint64_t, void* user_data, void*);
  static int path_validation(ngtcp2_conn*, uint32_t flags, const ngtcp2_path* path, ngtcp2_path_validation_result res,
                             void* user_data);
};

namespace quic {
// The callbacks both roles set (quic_callbacks.cpp).
void common_callbacks(ngtcp2_callbacks& cb);
}  // namespace quic

}  // namespace natpunch
