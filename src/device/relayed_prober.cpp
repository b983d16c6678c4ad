#include "device/relayed_prober.h"

#include "wire/message.h"
#include "wire/punch_packet.h"

namespace natpunch {

RelayedPeerProber::RelayedPeerProber(PeerInfo info, TimePoint now, TimePoint deadline, RandomSource random)
    : info_(std::move(info)),
      relayed_(info_.peer_relayed.value_or(SocketAddress{})),
      created_(now),
      deadline_(deadline),
      next_probe_(now),
      random_(std::move(random)) {
  on_timer(now);
}

bool RelayedPeerProber::on_datagram(const SocketAddress& from, ByteView bytes, TimePoint now) {
  if (finished() || from != relayed_) return false;
  bool heard = !looks_like_stun(bytes);  // its QUIC Initial: it heard us (and sends it again)
  if (!heard) {
    auto p = read_punch(bytes, info_.token);
    heard = p && p->stage == PunchStage::Ack;
  }
  if (!heard) return false;
  reached_ = true;
  elapsed_ = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
  return true;
}

void RelayedPeerProber::on_timer(TimePoint now) {
  if (finished()) return;
  if (now >= deadline_) {
    failed_ = true;
    error_ = "the peer's relayed address " + relayed_.to_string() + " never answered";
    elapsed_ = std::chrono::duration_cast<std::chrono::milliseconds>(now - created_);
    return;
  }
  if (now < next_probe_) return;
  out_.push_back(OutDatagram{0, relayed_,
                             encode_punch(punch_packet(info_.token, PunchStage::Probe, relayed_, ++sequence_),
                                          random_transaction_id(random_))});
  ++sent_;
  next_probe_ = now + kProbeEvery;
}

std::optional<TimePoint> RelayedPeerProber::next_deadline() const {
  if (finished()) return std::nullopt;
  return std::min(next_probe_, deadline_);
}

std::vector<OutDatagram> RelayedPeerProber::take_datagrams() { return std::exchange(out_, {}); }

}  // namespace natpunch
