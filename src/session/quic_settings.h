// What a QUIC session asks of ngtcp2: its settings and transport parameters (RFC 9000 §18.2), the
// largest packet it writes, and the conversions between TimePoint and ngtcp2's nanosecond clock.
// Internal to src/session.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <chrono>
#include <cstddef>

#include "session/quic_session.h"
#include "wire/clock.h"

namespace natpunch::quic {

inline constexpr std::size_t kMaxPacket = 1200;  // fits any path a punch found (IPv6 minimum MTU 1280)

inline ngtcp2_tstamp to_ts(TimePoint t) {
  return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
inline TimePoint from_ts(ngtcp2_tstamp ts) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ts)));
}
inline ngtcp2_duration to_ns(std::chrono::milliseconds d) {
  return static_cast<ngtcp2_duration>(d.count()) * NGTCP2_MILLISECONDS;
}

void session_settings(ngtcp2_settings& st, const SessionConfig& c, TimePoint now);
void session_params(ngtcp2_transport_params& p, const SessionConfig& c);

}  // namespace natpunch::quic
