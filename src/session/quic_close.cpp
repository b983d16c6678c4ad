// Closing a QuicSession: our CONNECTION_CLOSE (a close asked for, or a library error on our side)
// and the closing period after it (RFC 9000 §10.2.1), in which the same packet goes again.
#include <ngtcp2/ngtcp2.h>

#include <algorithm>
#include <array>

#include "session/quic_path.h"
#include "session/quic_session.h"
#include "session/quic_session_impl.h"
#include "session/quic_settings.h"

namespace natpunch {

using quic::from_sockaddr;
using quic::kMaxPacket;
using quic::to_ts;

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
    out.push_back({from_sockaddr(ps.path.remote), Bytes(p, p + n), from_sockaddr(ps.path.local)});
    begin_closing(out.back(), now);
  }
  return out;
}

void QuicSession::begin_closing(OutPacket packet, TimePoint now) {
  auto pto = std::chrono::nanoseconds(ngtcp2_conn_get_pto(impl_->conn));
  close_interval_ = std::max(pto, std::chrono::nanoseconds(std::chrono::milliseconds(1)));
  closing_packet_ = std::move(packet);
  closing_until_ = now + std::min<std::chrono::nanoseconds>(3 * close_interval_, std::chrono::seconds(2));
  next_close_send_ = now + close_interval_;
  close_sends_ = 1;
}

bool QuicSession::closing(TimePoint now) const {
  return closing_packet_ && now < closing_until_ && close_sends_ < kMaxCloseSends;
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

}  // namespace natpunch
