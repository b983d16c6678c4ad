#include "portmap/pcp_mapper.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string_view to_string(PcpMapper::State s) {
  switch (s) {
    case PcpMapper::State::Idle: return "idle";
    case PcpMapper::State::Requesting: return "requesting";
    case PcpMapper::State::Mapped: return "mapped";
    case PcpMapper::State::NoServer: return "no PCP server";
    case PcpMapper::State::NatPmpOnly: return "NAT-PMP only";
    case PcpMapper::State::Refused: return "refused";
    case PcpMapper::State::Closed: return "closed";
  }
  return "?";
}

pcp::MapRequest PcpMapper::request(std::uint32_t lifetime) const {
  pcp::MapRequest r;
  r.client = config_.client;
  r.nonce = config_.nonce;
  r.internal_port = config_.internal_port;
  r.lifetime_s = lifetime;
  // Renewals suggest the address we hold, so the gateway keeps it (§11.2.1).
  if (external_) {
    r.suggested_external = *external_;
  } else {
    r.suggested_external = config_.suggested_external;
  }
  return r;
}

std::vector<Bytes> PcpMapper::send_request(TimePoint now) {
  if (sends_ == 0) sent_first_ = now;
  ++sends_;
  // RFC 6887 §8.1.1 retransmits from 3 s up; a host looking for its gateway cannot wait that long,
  // so the schedule is NAT-PMP's (RFC 6886 §3.1): 250 ms, doubling.
  next_send_ = sent_first_ + config_.first_retry * ((1 << sends_) - 1);
  return {pcp::encode_map_request(request(config_.lifetime_s))};
}

std::vector<Bytes> PcpMapper::start(TimePoint now) {
  if (state_ != State::Idle) return {};
  state_ = State::Requesting;
  sends_ = 0;
  return send_request(now);
}

std::vector<Bytes> PcpMapper::on_datagram(ByteView d, TimePoint now) {
  if (state_ != State::Requesting && state_ != State::Mapped) return {};
  auto m = pcp::parse_map_response(d);
  if (!m) {
    if (m.error() == pcp::PcpError::OldVersion && state_ == State::Requesting) {
      state_ = State::NatPmpOnly;
      error_ = "the gateway speaks NAT-PMP, not PCP";
    }
    return {};
  }
  // §11.3: only the answer to our mapping counts (anyone on the LAN can send to our port).
  if (!pcp::matches(*m, request(config_.lifetime_s))) return {};
  if (m->result != pcp::ResultCode::Success) {
    if (state_ == State::Requesting) {
      state_ = State::Refused;
      error_ = std::string(pcp::describe(m->result));
    }
    return {};
  }
  // §8.5: the gateway's epoch must advance with our clock (±2 s, ±1/16). Going backwards, or
  // drifting further, means it restarted and may have forgotten the mapping: ask again now.
  bool restarted = false;
  if (epoch_) {
    auto client_delta = static_cast<std::int64_t>(duration_cast<seconds>(now - epoch_at_).count());
    auto server_delta = static_cast<std::int64_t>(m->epoch_s) - static_cast<std::int64_t>(*epoch_);
    restarted = server_delta < -1 || client_delta + 2 < server_delta - server_delta / 16 ||
                server_delta + 2 < client_delta - client_delta / 16;
  }
  epoch_ = m->epoch_s;
  epoch_at_ = now;
  external_ = m->external;
  lifetime_s_ = m->lifetime_s;
  if (state_ == State::Mapped) ++renewals_;
  state_ = State::Mapped;
  sends_ = 0;
  if (restarted) return send_request(now);
  renew_at_ = now + seconds(std::max<std::uint32_t>(1, m->lifetime_s / 2));
  return {};
}

std::vector<Bytes> PcpMapper::on_timer(TimePoint now) {
  if (state_ == State::Requesting && now >= next_send_) {
    if (sends_ >= config_.max_sends) {
      state_ = State::NoServer;
      error_ = "no answer from a PCP server on the gateway";
      return {};
    }
    return send_request(now);
  }
  if (state_ == State::Mapped) {
    if (sends_ > 0 && now >= next_send_) {
      if (sends_ >= config_.max_sends) {
        sends_ = 0;  // the gateway is silent; try again at the next renewal point
        renew_at_ = now + seconds(std::max<std::uint32_t>(1, lifetime_s_ / 4));
        return {};
      }
      return send_request(now);
    }
    if (sends_ == 0 && now >= renew_at_) return send_request(now);
  }
  return {};
}

std::optional<TimePoint> PcpMapper::next_deadline() const {
  if (state_ == State::Requesting) return next_send_;
  if (state_ == State::Mapped) return sends_ > 0 ? next_send_ : renew_at_;
  return std::nullopt;
}

std::vector<Bytes> PcpMapper::close(TimePoint) {
  std::vector<Bytes> out;
  if (state_ == State::Mapped) out.push_back(pcp::encode_map_request(request(0)));  // §15: lifetime 0 deletes
  state_ = State::Closed;
  return out;
}

}  // namespace natpunch
