// The ngtcp2 callbacks of a QuicSession: how ngtcp2 and GnuTLS reach the session (handshake,
// stream data, DATAGRAM frames, path validation), and the callback set both roles use.
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "session/quic_path.h"
#include "session/quic_session_impl.h"
#include "session/quic_settings.h"

namespace natpunch {

using quic::from_sockaddr;
using quic::kCidLength;
using quic::random_cid;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

void QuicSession::Impl::rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx* ctx) {
  const auto& random = *static_cast<const RandomSource*>(ctx->native_handle);
  random(std::span(reinterpret_cast<std::byte*>(dest), len));
}

int QuicSession::Impl::new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* user_data) {
  const auto& random = of(user_data).self->config_.random;
  random_cid(*cid, cidlen, random);
  random(std::span(reinterpret_cast<std::byte*>(token), NGTCP2_STATELESS_RESET_TOKENLEN));
  return 0;
}

int QuicSession::Impl::handshake_completed(ngtcp2_conn*, void* user_data) {
  auto& s = *of(user_data).self;
  // A handshake whose certificate check never ran must not count as authenticated.
  if (!s.pin_checked_) return NGTCP2_ERR_CALLBACK_FAILURE;
  // The server has checked the client's certificate by now; the client learns that the server
  // accepted its certificate only from HANDSHAKE_DONE (handshake_confirmed).
  if (s.config_.role == SessionRole::Server) s.mark_established();
  return 0;
}

int QuicSession::Impl::handshake_confirmed(ngtcp2_conn*, void* user_data) {
  auto& s = *of(user_data).self;
  if (s.config_.role == SessionRole::Client) s.mark_established();
  return 0;
}

int QuicSession::Impl::recv_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream, uint64_t,
                                        const uint8_t* data, size_t len, void* user_data, void*) {
  auto& s = *of(user_data).self;
  auto& buf = s.in_[stream];
  if (buf.size() + len > s.config_.max_message) return NGTCP2_ERR_CALLBACK_FAILURE;
  buf.insert(buf.end(), reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + len);
  ngtcp2_conn_extend_max_stream_offset(conn, stream, len);
  ngtcp2_conn_extend_max_offset(conn, len);
  if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) {
    s.events_.push_back({SessionEvent::Kind::Message, stream, std::move(buf), {}});
    s.in_.erase(stream);
  }
  return 0;
}

int QuicSession::Impl::recv_datagram(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t len, void* user_data) {
  auto& s = *of(user_data).self;
  auto* p = reinterpret_cast<const std::byte*>(data);
  s.events_.push_back({SessionEvent::Kind::Datagram, -1, Bytes(p, p + len), {}});
  return 0;
}

int QuicSession::Impl::stream_close(ngtcp2_conn* conn, uint32_t, int64_t stream, uint64_t, void* user_data, void*) {
  auto& s = *of(user_data).self;
  s.out_.erase(stream);
  s.in_.erase(stream);
  // A stream the peer opened is done: let it open another (RFC 9000 §4.6).
  bool peer_opened = ((stream & 1) != 0) == (s.config_.role == SessionRole::Client);
  if (peer_opened && (stream & 2) == 0) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
  return 0;
}

// The outcome of a path validation. A success needs no event here: the path switch it brings (if
// any) is seen by sync_path(). A failure leaves the session where it is (a client's migration never
// switched; a server that followed a new address falls back to the old one, which sync_path() sees).
int QuicSession::Impl::path_validation(ngtcp2_conn*, uint32_t, const ngtcp2_path* path,
                                       ngtcp2_path_validation_result res, void* user_data) {
  auto& s = *of(user_data).self;
  if (res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) return 0;
  SessionEvent e{SessionEvent::Kind::PathValidationFailed, -1, {}, {}, from_sockaddr(path->local),
                 from_sockaddr(path->remote)};
  e.reason = res == NGTCP2_PATH_VALIDATION_RESULT_ABORTED
                 ? "path validation of " + e.local.to_string() + " -> " + e.remote.to_string() + " was abandoned"
                 : "no answer to path validation on " + e.local.to_string() + " -> " + e.remote.to_string();
  if (s.config_.role == SessionRole::Client) s.migrating_ = false;
  s.events_.push_back(std::move(e));
  return 0;
}

namespace quic {

// Callbacks both roles set: ngtcp2's GnuTLS crypto helpers and the session's own.
void common_callbacks(ngtcp2_callbacks& cb) {
  cb.rand = &QuicSession::Impl::rand;
  cb.get_new_connection_id = &QuicSession::Impl::new_cid;
  cb.handshake_completed = &QuicSession::Impl::handshake_completed;
  cb.handshake_confirmed = &QuicSession::Impl::handshake_confirmed;
  cb.recv_stream_data = &QuicSession::Impl::recv_stream_data;
  cb.stream_close = &QuicSession::Impl::stream_close;
  cb.recv_datagram = &QuicSession::Impl::recv_datagram;
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.path_validation = &QuicSession::Impl::path_validation;
}

}  // namespace quic
}  // namespace natpunch
