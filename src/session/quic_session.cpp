#include "session/quic_session.h"

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <algorithm>
#include <array>

#include "session/quic_path.h"
#include "session/quic_session_impl.h"
#include "session/quic_settings.h"
#include "session/quic_tls.h"
#include "wire/escape.h"

namespace natpunch {

using quic::alert_text;
using quic::from_sockaddr;
using quic::from_ts;
using quic::kCidLength;
using quic::kMaxPacket;
using quic::random_cid;
using quic::session_params;
using quic::session_settings;
using quic::SockAddr;
using quic::to_ns;
using quic::to_ts;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

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
    // Never echo the network's bytes as they are (wire/escape.h).
    text += ": " + escape_for_display(std::string_view(reinterpret_cast<const char*>(e.reason), e.reasonlen), 120);
  }
  return text;
}

}  // namespace

QuicSession::QuicSession(const SessionConfig& config, TimePoint now)
    : config_(config),
      impl_(std::make_unique<Impl>()),
      started_(now),
      last_now_(now),
      local_(config.local),
      remote_(config.remote) {
  if (!config_.random) config_.random = system_random();
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

Result<bool, std::string> QuicSession::init_client(TimePoint now) {
  ngtcp2_callbacks cb{};
  quic::common_callbacks(cb);
  cb.client_initial = ngtcp2_crypto_client_initial_cb;
  cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  ngtcp2_settings st;
  session_settings(st, config_, now);
  ngtcp2_transport_params params;
  session_params(params, config_);
  ngtcp2_cid dcid, scid;
  random_cid(dcid, kCidLength, config_.random);
  random_cid(scid, kCidLength, config_.random);
  SockAddr local(config_.local), remote(config_.remote);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  int rv = ngtcp2_conn_client_new(&impl_->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &st, &params,
                                  nullptr, impl_.get());
  if (rv != 0) return fail(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(impl_->conn, impl_->tls);
  if (config_.keepalive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(impl_->conn, to_ns(config_.keepalive));
  return true;
}

Result<bool, std::string> QuicSession::init_server(ByteView first, const SocketAddress& local_addr,
                                                   const SocketAddress& from, TimePoint now) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, reinterpret_cast<const uint8_t*>(first.data()), first.size()) != 0)
    return fail(std::string("not a QUIC Initial"));
  ngtcp2_callbacks cb{};
  quic::common_callbacks(cb);
  cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  ngtcp2_settings st;
  session_settings(st, config_, now);
  ngtcp2_transport_params params;
  session_params(params, config_);
  params.original_dcid = hd.dcid;
  ngtcp2_cid scid;
  random_cid(scid, kCidLength, config_.random);
  local_ = local_addr;
  remote_ = from;
  SockAddr local(local_addr), remote(from);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  int rv = ngtcp2_conn_server_new(&impl_->conn, &hd.scid, &scid, &path, hd.version, &cb, &st, &params, nullptr,
                                  impl_.get());
  if (rv != 0) return fail(std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(impl_->conn, impl_->tls);
  if (config_.keepalive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(impl_->conn, to_ns(config_.keepalive));
  return true;
}

std::vector<Bytes> QuicSession::source_cids() const {
  std::vector<Bytes> out;
  if (!impl_ || !impl_->conn) return out;
  std::vector<ngtcp2_cid> cids(ngtcp2_conn_get_num_scid(impl_->conn));
  cids.resize(ngtcp2_conn_get_scid(impl_->conn, cids.data()));
  for (const auto& c : cids) out.emplace_back(reinterpret_cast<const std::byte*>(c.data), reinterpret_cast<const std::byte*>(c.data) + c.datalen);
  return out;
}

void QuicSession::mark_established() {
  if (established_) return;
  established_ = true;
  handshake_time_ = duration_cast<milliseconds>(last_now_ - started_);
  events_.push_back({SessionEvent::Kind::Established, -1, {}, {}});
}

// Follows ngtcp2's current path: a validated migration (client), or the client's newest packets
// from a new address and a fallback from it (server).
void QuicSession::sync_path() {
  if (!impl_->conn) return;
  const ngtcp2_path* path = ngtcp2_conn_get_path(impl_->conn);
  auto local = from_sockaddr(path->local), remote = from_sockaddr(path->remote);
  if (local == local_ && remote == remote_) return;
  local_ = local;
  remote_ = remote;
  if (config_.role == SessionRole::Client) migrating_ = false;  // the client's path moves only by migrate()
  events_.push_back({SessionEvent::Kind::PathChanged, -1, {}, {}, local, remote});
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

std::vector<OutPacket> QuicSession::on_datagram(ByteView bytes, const SocketAddress& from, TimePoint now) {
  return on_datagram(bytes, config_.local, from, now);
}

std::vector<OutPacket> QuicSession::on_datagram(ByteView bytes, const SocketAddress& local_addr,
                                                const SocketAddress& from, TimePoint now) {
  last_now_ = now;
  if (closed_) {
    // Closing: the peer is still sending, so it has not seen our close. Only to the peer's address.
    if (!closing(now) || from != closing_packet_->to) return {};
    ++close_sends_;
    return {*closing_packet_};
  }
  if (!impl_->conn) {
    // A server waits for the client's Initial; anything else (a stray or forged packet) is ignored.
    if (config_.role != SessionRole::Server || !init_server(bytes, local_addr, from, now)) return {};
  }
  SockAddr local(local_addr), remote(from);
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(impl_->conn, &path, &pi, reinterpret_cast<const uint8_t*>(bytes.data()),
                                bytes.size(), to_ts(now));
  if (rv == 0) {
    last_heard_ = now;
    sync_path();
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

std::chrono::milliseconds QuicSession::effective_idle() const {
  auto idle = config_.idle_timeout;
  if (const auto* remote = ngtcp2_conn_get_remote_transport_params(impl_->conn);
      remote != nullptr && remote->max_idle_timeout > 0) {
    idle = std::min(idle, std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::nanoseconds(remote->max_idle_timeout)));
  }
  return idle;
}

std::vector<OutPacket> QuicSession::on_timer(TimePoint now) {
  last_now_ = now;
  last_timer_ = now;
  if (closed_) {
    if (!closing(now) || now < next_close_send_) return {};
    ++close_sends_;
    next_close_send_ = now + close_interval_;
    return {*closing_packet_};
  }
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
  if (established_ && now - last_heard_ >= effective_idle()) {
    info.idle_timeout = true;
    info.reason = "idle timeout: nothing from the peer for " + std::to_string(effective_idle().count()) + " ms";
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
                                     std::to_string(effective_idle().count()) + " ms"
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
  if (closed_) {
    if (!closing(last_now_)) return std::nullopt;
    // The next proactive copy (at 1 and 2 PTO), then the end of the closing period.
    return next_close_send_ < closing_until_ ? next_close_send_ : closing_until_;
  }
  if (!impl_->conn) return started_ + config_.handshake_timeout;
  auto e = ngtcp2_conn_get_expiry(impl_->conn);
  std::optional<TimePoint> next;
  // ngtcp2 0.12 reports a retired connection ID's expiry as retired + PTO but removes it only
  // after that instant: a deadline the last on_timer() already handled is due just after it.
  if (e != UINT64_MAX) next = std::max(from_ts(e), last_timer_ + std::chrono::nanoseconds(1));
  if (established_) {
    auto idle = last_heard_ + effective_idle();
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

Result<bool, std::string> QuicSession::migrate(const SocketAddress& local, const SocketAddress& remote, TimePoint now) {
  last_now_ = now;
  if (closed_) return fail(std::string("the session is closed"));
  if (config_.role != SessionRole::Client)
    return fail(std::string("only the QUIC client (the initiator) can migrate a connection; a server follows it"));
  // RFC 9000 §9: no migration before the handshake is confirmed (the client's `established`).
  if (!impl_->conn || !established_) return fail(std::string("cannot migrate before the handshake is confirmed"));
  if (local.family != remote.family)
    return fail("cannot migrate to " + local.to_string() + " -> " + remote.to_string() + ": mixed address families");
  if (local == local_ && remote == remote_)
    return fail("already on the path " + local.to_string() + " -> " + remote.to_string());
  SockAddr l(local), r(remote);
  ngtcp2_path path{l.addr(), r.addr(), nullptr};
  int rv = ngtcp2_conn_initiate_migration(impl_->conn, &path, to_ts(now));
  switch (rv) {
    case 0:
      migrating_ = true;
      return true;
    case NGTCP2_ERR_CONN_ID_BLOCKED:
      return fail(std::string("no spare connection ID from the server yet (they follow the handshake): try again"));
    case NGTCP2_ERR_INVALID_ARGUMENT:
      return fail("cannot migrate from the current local address " + local_.to_string() +
                  ": a new path needs a new local address (ngtcp2 0.12)");
    case NGTCP2_ERR_INVALID_STATE:
      return fail(std::string("ngtcp2 refused the migration: the server disabled active migration, or the "
                              "handshake is not confirmed"));
    default:
      return fail(std::string("ngtcp2 refused the migration: ") + ngtcp2_strerror(rv));
  }
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
  for (int guard = 0; taken < datagrams_out_.size() && guard < 1024; ++guard) {
    auto& d = datagrams_out_[taken];
    ngtcp2_vec vec{reinterpret_cast<uint8_t*>(d.data()), d.size()};
    int accepted = 0;
    auto n = ngtcp2_conn_writev_datagram(impl_->conn, &ps.path, &pi, buf.data(), buf.size(), &accepted,
                                         NGTCP2_WRITE_DATAGRAM_FLAG_NONE, taken, &vec, 1, ts);
    if (n == 0) break;  // congestion-limited: keep the rest for the next write
    if (n < 0) {        // the peer takes no DATAGRAM frames, or this one is too big: dropped
      ++taken;
      continue;
    }
    auto* p = reinterpret_cast<const std::byte*>(buf.data());
    out.push_back({from_sockaddr(ps.path.remote), Bytes(p, p + n), from_sockaddr(ps.path.local)});
    // ngtcp2 may have written a packet of its own instead (PATH_CHALLENGE, PATH_RESPONSE, a PMTU
    // probe, an ACK while pacing): the datagram is still ours to send.
    if (accepted) ++taken;
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
    out.push_back({from_sockaddr(ps.path.remote), Bytes(p, p + n), from_sockaddr(ps.path.local)});
  }
  ngtcp2_conn_update_pkt_tx_time(impl_->conn, ts);
  sync_path();  // a path validation may have ended while writing (ngtcp2 checks its timeout there)
  return out;
}

}  // namespace natpunch