#include "session/quic_settings.h"

#include <algorithm>

namespace natpunch::quic {

void session_settings(ngtcp2_settings& st, const SessionConfig& c, TimePoint now) {
  ngtcp2_settings_default(&st);
  st.initial_ts = to_ts(now);
  st.initial_rtt = to_ns(std::max(c.initial_rtt, std::chrono::milliseconds(1)));
  st.handshake_timeout = to_ns(c.handshake_timeout);
  st.max_tx_udp_payload_size = kMaxPacket;
  // ngtcp2's own random bytes (PATH_CHALLENGE data, …) come from the session's source.
  st.rand_ctx.native_handle = const_cast<RandomSource*>(&c.random);
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
  // RFC 9000 §18.2: a server that sets this refuses the client's migrate(); 0 is also the default.
  p.disable_active_migration = 0;
}

}  // namespace natpunch::quic
