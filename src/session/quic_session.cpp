#include "session/quic_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "session/stun_demux.h"
#include "session/tls_identity.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

constexpr std::size_t kCidLength = 16;
constexpr std::size_t kMaxPacket = 1200;  // fits any path a punch found (IPv6 minimum MTU 1280)
// TLS 1.3 only, AEADs and groups QUIC uses; no middlebox compatibility mode (RFC 9001 §8.4).
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";

ngtcp2_tstamp to_ts(TimePoint t) {
  return static_cast<ngtcp2_tstamp>(duration_cast<nanoseconds>(t.time_since_epoch()).count());
}
TimePoint from_ts(ngtcp2_tstamp ts) { return TimePoint(duration_cast<TimePoint::duration>(nanoseconds(ts))); }
ngtcp2_duration to_ns(milliseconds d) { return static_cast<ngtcp2_duration>(d.count()) * NGTCP2_MILLISECONDS; }

// A SocketAddress as the sockaddr ngtcp2 keeps in its paths.
struct SockAddr {
  ngtcp2_sockaddr_union u{};
  ngtcp2_socklen len = 0;

  explicit SockAddr(const SocketAddress& a) {
    if (a.family == Family::V4) {
      u.in.sin_family = AF_INET;
      u.in.sin_port = htons(a.port);
      std::memcpy(&u.in.sin_addr, a.ip.data(), 4);
      len = sizeof(sockaddr_in);
    } else {
      u.in6.sin6_family = AF_INET6;
      u.in6.sin6_port = htons(a.port);
      std::memcpy(&u.in6.sin6_addr, a.ip.data(), 16);
      len = sizeof(sockaddr_in6);
    }
  }
  ngtcp2_addr addr() { return ngtcp2_addr{&u.sa, len}; }
};

SocketAddress from_sockaddr(const ngtcp2_addr& a) {
  SocketAddress out;
  if (a.addr->sa_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(a.addr);
    std::array<std::uint8_t, 16> ip{};
    std::memcpy(ip.data(), &s->sin6_addr, 16);
    out = SocketAddress::v6(ip, ntohs(s->sin6_port));
  } else {
    const auto* s = reinterpret_cast<const sockaddr_in*>(a.addr);
    std::array<std::uint8_t, 4> ip{};
    std::memcpy(ip.data(), &s->sin_addr, 4);
    out = SocketAddress::v4(ip, ntohs(s->sin_port));
  }
  return out;
}

// A connection ID that cannot make a short-header packet pass for STUN (session/stun_demux.h).
void random_cid(ngtcp2_cid& cid, std::size_t length) {
  cid.datalen = length;
  do {
    randombytes_buf(cid.data, length);
  } while (cid_mimics_stun(ByteView(reinterpret_cast<const std::byte*>(cid.data), length)));
}

std::string alert_text(std::uint64_t alert) {
  const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
  return "TLS alert " + std::to_string(alert) + (name ? std::string(" (") + name + ")" : "");
}

// The peer's CONNECTION_CLOSE in words (RFC 9000 §20: 0x0100–0x01ff carry a TLS alert).
std::string describe_peer_close(const ngtcp2_connection_close_error& e) {
  std::string text;
  if (e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
    text = e.error_code == 0 ? "closed by peer" : "closed by peer (application error " + std::to_string(e.error_code) + ")";
  } else if (e.error_code >= 0x100 && e.error_code <= 0x1ff) {
    text = "the peer refused the TLS handshake: " + alert_text(e.error_code - 0x100);
  } else if (e.error_code == 0) {
    text = "closed by peer";
  } else {
    text = "closed by peer (QUIC transport error " + std::to_string(e.error_code) + ")";
  }
  if (e.reasonlen > 0 && e.reason != nullptr) {
    std::string reason;
    for (std::size_t i = 0; i < e.reasonlen && i < 120; ++i) {
      auto c = static_cast<char>(e.reason[i]);
      reason += (c >= 0x20 && c < 0x7f) ? c : '?';  // never echo control bytes from the network
    }
    text += ": " + reason;
  }
  return text;
}

}  // namespace

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
  static int verify_peer(gnutls_session_t session) {
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

  static void rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) { randombytes_buf(dest, len); }

  static int new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void*) {
    random_cid(*cid, cidlen);
    randombytes_buf(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
  }

  static int handshake_completed(ngtcp2_conn*, void* user_data) {
    auto& s = *of(user_data).self;
    // A handshake whose certificate check never ran must not count as authenticated.
    if (!s.pin_checked_) return NGTCP2_ERR_CALLBACK_FAILURE;
    // The server has checked the client's certificate by now; the client learns that the server
    // accepted its certificate only from HANDSHAKE_DONE (handshake_confirmed).
    if (s.config_.role == SessionRole::Server) s.mark_established();
    return 0;
  }

  static int handshake_confirmed(ngtcp2_conn*, void* user_data) {
    auto& s = *of(user_data).self;
    if (s.config_.role == SessionRole::Client) s.mark_established();
    return 0;
  }

  static int recv_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream, uint64_t, const uint8_t* data,
                              size_t len, void* user_data, void*) {
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

  static int recv_datagram(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t len, void* user_data) {
    auto& s = *of(user_data).self;
    auto* p = reinterpret_cast<const std::byte*>(data);
    s.events_.push_back({SessionEvent::Kind::Datagram, -1, Bytes(p, p + len), {}});
    return 0;
  }

  static int stream_close(ngtcp2_conn* conn, uint32_t, int64_t stream, uint64_t, void* user_data, void*) {
    auto& s = *of(user_data).self;
    s.out_.erase(stream);
    s.in_.erase(stream);
    // A stream the peer opened is done: let it open another (RFC 9000 §4.6).
    bool peer_opened = ((stream & 1) != 0) == (s.config_.role == SessionRole::Client);
    if (peer_opened && (stream & 2) == 0) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
    return 0;
  }
};

QuicSession::QuicSession(const SessionConfig& config, TimePoint now)
    : config_(config), impl_(std::make_unique<Impl>()), started_(now), last_now_(now), remote_(config.remote) {
  impl_->self = this;
  impl_->ref.get_conn = &Impl::get_conn;
  impl_->ref.user_data = impl_.get();
}

QuicSession::~QuicSession() = default;

Result<std::unique_ptr<QuicSession>, std::string> QuicSession::create(const SessionConfig& config,
                                                                      const DeviceKey* key, TimePoint now) {
  if (config.idle_timeout.count() <= 0 || config.handshake_timeout.count() <= 0)
    return fail(std::string("session timeouts must be positive"));
  std::unique_ptr<QuicSession> s(new QuicSession(config, now));
  if (key == nullptr) {
    s->impl_->ephemeral.emplace(DeviceKey::generate());
    key = &*s->impl_->ephemeral;
  }
  auto tls = s->init_tls(*key);
  if (!tls) return fail(tls.error());
  if (config.role == SessionRole::Client) {
    auto c = s->init_client(now);
    if (!c) return fail(c.error());
  }
  return s;
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

namespace {
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
}

void session_settings(ngtcp2_settings& st, const SessionConfig& c, TimePoint now) {
  ngtcp2_settings_default(&st);
  st.initial_ts = to_ts(now);
  st.initial_rtt = to_ns(std::max(c.initial_rtt, milliseconds(1)));
  st.handshake_timeout = to_ns(c.handshake_timeout);
  st.max_tx_udp_payload_size = kMaxPacket;
}

void session_params(ngtcp2_transport_params& p, const SessionConfig& c) {
  ngtcp2_transport_params_default(&p);
  p.initial_max_stream_data_bidi_local = 256 * 1024;
  p.initial_max_stream_data_bidi_remote = 256 * 1024;
  p.initial_max_data = 1024 * 1024;
  p.initial_max_streams_bidi = 16;
  p.initial_max_streams_uni = 0;
  p.max_idle_timeout = to_ns(c.idle_timeout);
  p.max_datagram_frame_size = kMaxSessionDatagram + 64;  // RFC 9221: payload + frame overhead
  p.active_connection_id_limit = 4;  // spare IDs so a path can change (migration, NAT rebinding)
}
}  // namespace

Result<bool, std::string> QuicSession::init_client(TimePoint now) {
  ngtcp2_callbacks cb{};
  common_callbacks(cb);
  cb.client_initial = ngtcp2_crypto_client_initial_cb;
  cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  ngtcp2_settings st;
  session_settings(st, config_, now);
  ngtcp2_transport_params params;
  session_params(params, config_);
  ngtcp2_cid dcid, scid;
  random_cid(dcid, kCidLength);
  random_cid(scid, kCidLength);
  SockAddr local(config_.local), remote(config_.remote);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  int rv = ngtcp2_conn_client_new(&impl_->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &st, &params,
                                  nullptr, impl_.get());
  if (rv != 0) return fail(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(impl_->conn, impl_->tls);
  if (config_.keepalive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(impl_->conn, to_ns(config_.keepalive));
  return true;
}

Result<bool, std::string> QuicSession::init_server(ByteView first, const SocketAddress& from, TimePoint now) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, reinterpret_cast<const uint8_t*>(first.data()), first.size()) != 0)
    return fail(std::string("not a QUIC Initial"));
  ngtcp2_callbacks cb{};
  common_callbacks(cb);
  cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  ngtcp2_settings st;
  session_settings(st, config_, now);
  ngtcp2_transport_params params;
  session_params(params, config_);
  params.original_dcid = hd.dcid;
  ngtcp2_cid scid;
  random_cid(scid, kCidLength);
  remote_ = from;
  SockAddr local(config_.local), remote(from);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  int rv = ngtcp2_conn_server_new(&impl_->conn, &hd.scid, &scid, &path, hd.version, &cb, &st, &params, nullptr,
                                  impl_.get());
  if (rv != 0) return fail(std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(impl_->conn, impl_->tls);
  if (config_.keepalive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(impl_->conn, to_ns(config_.keepalive));
  return true;
}

void QuicSession::mark_established() {
  if (established_) return;
  established_ = true;
  handshake_time_ = duration_cast<milliseconds>(last_now_ - started_);
  events_.push_back({SessionEvent::Kind::Established, -1, {}, {}});
}

void QuicSession::set_closed(CloseInfo info) {
  if (closed_) return;
  closed_ = info;
  events_.push_back({SessionEvent::Kind::Closed, -1, {}, info.reason});
}

std::vector<OutPacket> QuicSession::start(TimePoint now) {
  last_now_ = now;
  if (config_.role == SessionRole::Server || closed_) return {};
  return write(now);
}

// The CONNECTION_CLOSE packet for `ccerr`, unless the connection is already closing or draining.
std::vector<OutPacket> QuicSession::write_close(const ngtcp2_connection_close_error& ccerr, TimePoint now) {
  std::vector<OutPacket> out;
  if (!impl_->conn || ngtcp2_conn_is_in_closing_period(impl_->conn) || ngtcp2_conn_is_in_draining_period(impl_->conn))
    return out;
  std::array<uint8_t, kMaxPacket> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  auto n = ngtcp2_conn_write_connection_close(impl_->conn, &ps.path, nullptr, buf.data(), buf.size(), &ccerr,
                                              to_ts(now));
  if (n > 0) {
    auto* p = reinterpret_cast<const std::byte*>(buf.data());
    out.push_back({remote_, Bytes(p, p + n)});
  }
  return out;
}

// A library error on our side: tell the peer why (CONNECTION_CLOSE) and stop.
std::vector<OutPacket> QuicSession::fail_with(int liberr, CloseInfo info, TimePoint now) {
  std::vector<OutPacket> out;
  if (impl_->conn) {
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (liberr == NGTCP2_ERR_CRYPTO && ngtcp2_conn_get_tls_alert(impl_->conn) != 0)
      ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(impl_->conn),
                                                                  nullptr, 0);
    else
      ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, nullptr, 0);
    out = write_close(ccerr, now);
  }
  set_closed(std::move(info));
  return out;
}

std::vector<OutPacket> QuicSession::on_datagram(ByteView bytes, const SocketAddress& from, TimePoint now) {
  last_now_ = now;
  if (closed_) return {};
  if (!impl_->conn) {
    // A server waits for the client's Initial; anything else (a stray or forged packet) is ignored.
    if (config_.role != SessionRole::Server || !init_server(bytes, from, now)) return {};
  }
  SockAddr local(config_.local), remote(from);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(impl_->conn, &path, &pi, reinterpret_cast<const uint8_t*>(bytes.data()),
                                bytes.size(), to_ts(now));
  if (rv == 0) {
    last_heard_ = now;
    return write(now);
  }
  CloseInfo info;
  switch (rv) {
    case NGTCP2_ERR_DRAINING: {
      ngtcp2_connection_close_error e;
      ngtcp2_conn_get_connection_close_error(impl_->conn, &e);
      info.by_peer = true;
      info.handshake_failed = !established_;
      info.reason = describe_peer_close(e);
      set_closed(std::move(info));
      return {};
    }
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
      info.handshake_failed = !established_;
      info.reason = "the QUIC connection was dropped";
      set_closed(std::move(info));
      return {};
    case NGTCP2_ERR_CRYPTO:
    case NGTCP2_ERR_CALLBACK_FAILURE:
      if (impl_->pin_mismatch) {
        info.pin_mismatch = true;
        info.handshake_failed = true;
        info.reason = seen_peer_key_
                          ? "the peer's certificate key does not match the pinned key (a man in the "
                            "middle, or a stale key): handshake refused"
                          : "the peer presented no Ed25519 identity certificate: handshake refused";
        return fail_with(NGTCP2_ERR_CRYPTO, std::move(info), now);
      }
      if (rv == NGTCP2_ERR_CALLBACK_FAILURE && !in_.empty()) {
        info.reason = "the peer sent a message over the " + std::to_string(config_.max_message) + "-byte limit";
        return fail_with(rv, std::move(info), now);
      }
      info.handshake_failed = !established_;
      info.reason = "TLS failed: " + alert_text(ngtcp2_conn_get_tls_alert(impl_->conn));
      return fail_with(rv, std::move(info), now);
    default:
      info.handshake_failed = !established_;
      info.reason = std::string("QUIC error: ") + ngtcp2_strerror(rv);
      return fail_with(rv, std::move(info), now);
  }
}

std::vector<OutPacket> QuicSession::on_timer(TimePoint now) {
  last_now_ = now;
  if (closed_) return {};
  if (!impl_->conn) {
    if (now - started_ >= config_.handshake_timeout) {
      CloseInfo info;
      info.handshake_failed = true;
      info.reason = "no QUIC handshake from the peer within " + std::to_string(config_.handshake_timeout.count()) +
                    " ms";
      set_closed(std::move(info));
    }
    return {};
  }
  CloseInfo info;
  // RFC 9000 §10.1 restarts the idle timer on the first keepalive after the last packet heard, so
  // ngtcp2 alone may wait up to idle + keepalive; the session promises "nothing heard for idle".
  if (established_ && now - last_heard_ >= config_.idle_timeout) {
    info.idle_timeout = true;
    info.reason = "idle timeout: nothing from the peer for " + std::to_string(config_.idle_timeout.count()) + " ms";
    set_closed(std::move(info));
    return {};
  }
  int rv = ngtcp2_conn_handle_expiry(impl_->conn, to_ts(now));
  if (rv == 0) return write(now);
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    // RFC 9000 §10.1: silently closed after max_idle_timeout with nothing from the peer.
    info.idle_timeout = true;
    info.handshake_failed = !established_;
    info.reason = established_ ? "idle timeout: nothing from the peer for " +
                                     std::to_string(config_.idle_timeout.count()) + " ms"
                               : "handshake timed out";
    set_closed(std::move(info));
    return {};
  }
  if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    info.handshake_failed = true;
    info.reason = "QUIC handshake timed out after " + std::to_string(config_.handshake_timeout.count()) + " ms";
    set_closed(std::move(info));
    return {};
  }
  info.reason = std::string("QUIC error: ") + ngtcp2_strerror(rv);
  return fail_with(rv, std::move(info), now);
}

std::optional<TimePoint> QuicSession::next_deadline() const {
  if (closed_) return std::nullopt;
  if (!impl_->conn) return started_ + config_.handshake_timeout;
  auto e = ngtcp2_conn_get_expiry(impl_->conn);
  std::optional<TimePoint> next;
  if (e != UINT64_MAX) next = from_ts(e);
  if (established_) {
    auto idle = last_heard_ + config_.idle_timeout;
    if (!next || idle < *next) next = idle;
  }
  return next;
}

Result<std::int64_t, std::string> QuicSession::send_message(ByteView data) {
  if (closed_) return fail(std::string("the session is closed"));
  if (!established_) return fail(std::string("the session is not established yet"));
  std::int64_t stream = -1;
  int rv = ngtcp2_conn_open_bidi_stream(impl_->conn, &stream, nullptr);
  if (rv != 0) return fail(std::string("cannot open a stream: ") + ngtcp2_strerror(rv));
  out_[stream] = StreamOut{Bytes(data.begin(), data.end())};
  return stream;
}

Result<bool, std::string> QuicSession::send_datagram(ByteView data) {
  if (closed_) return fail(std::string("the session is closed"));
  if (!established_) return fail(std::string("the session is not established yet"));
  if (data.size() > kMaxSessionDatagram)
    return fail("a datagram is limited to " + std::to_string(kMaxSessionDatagram) + " bytes");
  if (datagrams_out_.size() >= 256) return fail(std::string("too many datagrams waiting"));
  datagrams_out_.emplace_back(data.begin(), data.end());
  return true;
}

Result<std::int64_t, std::string> QuicSession::reply(std::int64_t stream, ByteView data) {
  if (closed_) return fail(std::string("the session is closed"));
  if (out_.count(stream)) return fail(std::string("already answered on this stream"));
  out_[stream] = StreamOut{Bytes(data.begin(), data.end())};
  return stream;
}

std::vector<OutPacket> QuicSession::flush(TimePoint now) {
  last_now_ = now;
  if (closed_ || !impl_->conn) return {};
  return write(now);
}

std::vector<OutPacket> QuicSession::close(TimePoint now, std::string reason) {
  last_now_ = now;
  std::vector<OutPacket> out;
  if (closed_) return out;
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  ngtcp2_connection_close_error_set_application_error(&ccerr, 0, nullptr, 0);
  out = write_close(ccerr, now);
  CloseInfo info;
  info.reason = std::move(reason);
  set_closed(std::move(info));
  return out;
}

std::vector<SessionEvent> QuicSession::take_events() {
  std::vector<SessionEvent> out;
  out.swap(events_);
  return out;
}

std::vector<OutPacket> QuicSession::write(TimePoint now) {
  std::vector<OutPacket> out;
  std::array<uint8_t, kMaxPacket> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  std::vector<std::int64_t> blocked;
  auto ts = to_ts(now);
  // Datagrams first, one per packet: they are the latency-sensitive traffic.
  std::size_t taken = 0;
  for (; taken < datagrams_out_.size(); ++taken) {
    auto& d = datagrams_out_[taken];
    ngtcp2_vec vec{reinterpret_cast<uint8_t*>(d.data()), d.size()};
    int accepted = 0;
    auto n = ngtcp2_conn_writev_datagram(impl_->conn, &ps.path, &pi, buf.data(), buf.size(), &accepted,
                                         NGTCP2_WRITE_DATAGRAM_FLAG_NONE, taken, &vec, 1, ts);
    if (n == 0) break;  // congestion-limited: keep the rest for the next write
    if (n < 0) continue;  // the peer takes no DATAGRAM frames, or this one is too big: dropped
    auto* p = reinterpret_cast<const std::byte*>(buf.data());
    out.push_back({from_sockaddr(ps.path.remote), Bytes(p, p + n)});
  }
  datagrams_out_.erase(datagrams_out_.begin(), datagrams_out_.begin() + static_cast<std::ptrdiff_t>(taken));
  for (int guard = 0; guard < 1024; ++guard) {
    // The next stream with something left to send (data or its FIN).
    StreamOut* so = nullptr;
    std::int64_t stream = -1;
    for (auto& [id, s] : out_) {
      if (s.fin_sent || std::find(blocked.begin(), blocked.end(), id) != blocked.end()) continue;
      so = &s;
      stream = id;
      break;
    }
    ngtcp2_vec vec{};
    std::size_t vcnt = 0;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (so) {
      vec.base = reinterpret_cast<uint8_t*>(so->data.data() + so->sent);
      vec.len = so->data.size() - so->sent;
      vcnt = 1;
      flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    }
    ngtcp2_ssize consumed = -1;
    auto n = ngtcp2_conn_writev_stream(impl_->conn, &ps.path, &pi, buf.data(), buf.size(), &consumed, flags, stream,
                                       vcnt ? &vec : nullptr, vcnt, ts);
    if (so && consumed >= 0) {
      so->sent += static_cast<std::size_t>(consumed);
      if (so->sent == so->data.size()) so->fin_sent = true;
    }
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) continue;
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        blocked.push_back(stream);
        continue;
      }
      CloseInfo info;
      info.reason = std::string("QUIC error while sending: ") + ngtcp2_strerror(static_cast<int>(n));
      auto closing = fail_with(static_cast<int>(n), std::move(info), now);
      out.insert(out.end(), std::make_move_iterator(closing.begin()), std::make_move_iterator(closing.end()));
      return out;
    }
    if (n == 0) break;
    auto* p = reinterpret_cast<const std::byte*>(buf.data());
    out.push_back({from_sockaddr(ps.path.remote), Bytes(p, p + n)});
  }
  ngtcp2_conn_update_pkt_tx_time(impl_->conn, ts);
  if (!out.empty()) remote_ = out.back().to;
  return out;
}

}  // namespace natpunch
