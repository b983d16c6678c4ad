// The loop that runs a QUIC session (src/session) on a DatagramPath: feeds it the datagrams and
// timer expiries, sends what it answers, and sets STUN-framed datagrams aside (a late punch probe,
// the peer lost our ack, is acked outside the session). run_client_session / run_server_session
// (session_runner.h) are its two standard uses; a caller with its own protocol on the session
// (DATAGRAM frames, several messages) passes its own `step`.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "io/awaitable.h"
#include "io/datagram_path.h"
#include "session/quic_session.h"
#include "wire/control_messages.h"

namespace natpunch {

// `step` runs after every wakeup with each of the session's new events and may act on the session
// (send, reply, close; packets it returns are sent); the loop ends when the session is closed. At
// `close_at` (which `step` may move) the session is closed normally ("done"); at `hard_end` as a
// failure ("time limit reached"); when `stopping` turns true ("stopped", checked every 250 ms); when
// the path closes (its reason, or "stopped"). `sent` counts the datagrams sent.
// `tick` (optional) runs on every pass too, may act on the session (e.g. send a DATAGRAM) and
// returns when it wants to run next (nullopt: no wish).
using SessionStep = std::function<std::vector<OutPacket>(const SessionEvent&)>;
using SessionTick = std::function<std::optional<TimePoint>(TimePoint now)>;
asio::awaitable<void> drive_session(DatagramPath& path, QuicSession& session, const AttemptToken& token,
                                    const TimePoint& hard_end, const TimePoint& close_at, const bool& stopping,
                                    std::uint64_t& sent, const SessionStep& step, const SessionTick& tick = {});

}  // namespace natpunch
