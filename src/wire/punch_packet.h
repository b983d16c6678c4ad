// NP-PUNCH: what two peers send each other directly, once the server has introduced them.
// A STUN indication (so it shares the socket with STUN and is classified by looks_like_stun):
//   NP-ATTEMPT-TOKEN   the attempt's token from the server (anything without it is ignored)
//   NP-PUNCH-STAGE     1 probe, 2 ack, 3 confirm (4–7 were keepalive/data/close: no longer valid)
//   NP-PROBE-TARGET    the destination the sender used for this packet
//   NP-REACHED-AT      ack: the address the acking side was reached at, i.e. the probe's
//                      NP-PROBE-TARGET: its public mapping for that socket ("the first mapping")
//   NP-SEQUENCE        a counter, to match replies and count loss
#pragma once

#include <optional>
#include <vector>

#include "wire/address.h"
#include "wire/control_messages.h"
#include "wire/message.h"

namespace natpunch {

// Application data never travels in punch packets: the path carries QUIC once punched.
enum class PunchStage : std::uint8_t { Probe = 1, Ack = 2, Confirm = 3 };

struct PunchPacket {
  AttemptToken token{};
  PunchStage stage = PunchStage::Probe;
  SocketAddress target;
  std::optional<SocketAddress> reached_at;
  std::uint32_t sequence = 0;
};

Bytes encode_punch(const PunchPacket& p, const TransactionId& txid);
// The usual packet: `stage` of attempt `token`, sent to `target` (the address it is aimed at).
PunchPacket punch_packet(const AttemptToken& token, PunchStage stage, const SocketAddress& target,
                         std::uint32_t sequence = 0);
Result<PunchPacket, ParseError> decode_punch(const MessageView& m);
// Parses a datagram as a punch packet carrying `token`; nullopt for anything else (other STUN,
// other attempts, garbage), so callers can ignore it silently.
std::optional<PunchPacket> read_punch(ByteView datagram, const AttemptToken& token);

// What a side that has chosen its path answers to a punch packet that arrives afterwards (the
// peer lost our answers, or probes again): a probe gets an ack, as any probe does, and a probe on
// the chosen path (`on_chosen_path`: from the peer address we use, on our socket of the path) also
// a confirm, which names that path to a controlled peer still waiting for our choice
// (punch/puncher.h). Other stages get nothing.
std::vector<PunchPacket> late_probe_answers(const PunchPacket& received, const SocketAddress& from,
                                            bool on_chosen_path);

}  // namespace natpunch
