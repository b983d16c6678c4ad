#include "portmap/natpmp_mapper.h"

#include <algorithm>
#include <utility>

namespace natpunch {

using std::chrono::seconds;

std::string_view to_string(NatPmpMapper::State s) {
  switch (s) {
    case NatPmpMapper::State::Idle: return "idle";
    case NatPmpMapper::State::AskingAddress: return "asking for the external address";
    case NatPmpMapper::State::AskingMapping: return "asking for the mapping";
    case NatPmpMapper::State::Deleting: return "deleting";
    case NatPmpMapper::State::Mapped: return "mapped";
    case NatPmpMapper::State::NoServer: return "no NAT-PMP server";
    case NatPmpMapper::State::Refused: return "refused";
    case NatPmpMapper::State::Failed: return "failed";
    case NatPmpMapper::State::Closed: return "closed";
  }
  return "?";
}

bool NatPmpMapper::requesting() const {
  return state_ == State::AskingAddress || state_ == State::AskingMapping || state_ == State::Deleting;
}

Bytes NatPmpMapper::request() const {
  switch (state_) {
    case State::AskingAddress: return natpmp::encode_external_address_request();
    // §3.4: a delete has lifetime 0 and suggested external port 0.
    case State::Deleting: return natpmp::encode_map_request(config_.internal_port, 0, 0);
    // §3.3: a renewal is the same request, suggesting the port we hold.
    case State::Mapped: return natpmp::encode_map_request(config_.internal_port, external_->port, config_.lifetime_s);
    default: return natpmp::encode_map_request(config_.internal_port, config_.suggested_external, config_.lifetime_s);
  }
}

std::vector<Bytes> NatPmpMapper::send_request(TimePoint now) {
  if (sends_ == 0) {
    sent_first_ = now;
    ignored_ = 0;
    last_ignored_.clear();
  }
  ++sends_;
  // §3.1: retransmit after 250 ms, the interval doubling each time.
  next_send_ = sent_first_ + config_.first_retry * ((1LL << std::min(sends_, 30)) - 1);
  return {request()};
}

std::vector<Bytes> NatPmpMapper::begin(State requesting, TimePoint now) {
  state_ = requesting;
  sends_ = 0;
  return send_request(now);
}

void NatPmpMapper::ignore(std::string reason) {
  ++ignored_;
  last_ignored_ = std::move(reason);
}

void NatPmpMapper::give_up(State s, std::string error) {
  state_ = s;
  error_ = std::move(error);
}

std::vector<Bytes> NatPmpMapper::start(TimePoint now) {
  if (state_ != State::Idle) return {};
  return begin(config_.lifetime_s == 0 ? State::Deleting : State::AskingAddress, now);
}

std::vector<Bytes> NatPmpMapper::on_datagram(ByteView d, TimePoint now) {
  if (!requesting() && !(state_ == State::Mapped && sends_ > 0)) return {};
  auto r = natpmp::parse_response(d);
  if (!r) {
    ignore(std::string(natpmp::to_string(r.error())));
    return {};
  }
  // §3.5/§3.3: only the answer to the request out counts (opcode, and our internal port).
  const auto opcode = state_ == State::AskingAddress ? natpmp::kOpExternalAddress : natpmp::kOpMapUdp;
  if (!natpmp::answers(*r, opcode, config_.internal_port)) {
    ignore("an answer to another request");
    return {};
  }
  const std::string gateway = "NAT-PMP: gateway " + config_.gateway.to_string();
  const bool renewal = state_ == State::Mapped;
  // A renewal that is refused or unusable is not taken: the mapping holds until its lifetime ends,
  // and the renewal is tried again (as a silent gateway's, below).
  if (r->result != natpmp::ResultCode::Success) {
    if (!renewal) {
      give_up(State::Refused, gateway + " refused: " + std::string(natpmp::describe(r->result)) + " (result code " +
                                  std::to_string(static_cast<unsigned>(r->result)) + ")");
    }
    return {};
  }
  if (state_ == State::AskingAddress) {
    if (!r->external_address || r->external_address->is_unspecified()) {
      give_up(State::Failed, gateway + " has no external address (0.0.0.0)");
      return {};
    }
    address_ = *r->external_address;
    return begin(State::AskingMapping, now);
  }
  if (state_ == State::Deleting) {
    state_ = State::Closed;
    return {};
  }
  // §3.3: a mapped external port of 0 is not a mapping (except in the answer to a delete).
  if (r->external_port == 0 || r->lifetime_s == 0) {
    if (!renewal) give_up(State::Failed, gateway + " answered with no port or no lifetime");
    return {};
  }
  external_ = *address_;
  external_->port = r->external_port;
  lifetime_s_ = r->lifetime_s;
  if (renewal) ++renewals_;
  state_ = State::Mapped;
  sends_ = 0;
  // §3.3: the client SHOULD begin trying to renew the mapping halfway to expiry.
  renew_at_ = now + seconds(std::max<std::uint32_t>(1, r->lifetime_s / 2));
  return {};
}

std::vector<Bytes> NatPmpMapper::on_timer(TimePoint now) {
  if (requesting() && now >= next_send_) {
    if (sends_ >= config_.max_sends) {
      std::string e = "no NAT-PMP server answered at " + config_.gateway.to_string() + " after " +
                      std::to_string(sends_) + " requests";
      if (ignored_ > 0)
        e += " (" + std::to_string(ignored_) + " other datagrams ignored, the last: " + last_ignored_ + ")";
      give_up(State::NoServer, std::move(e));
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

std::optional<TimePoint> NatPmpMapper::next_deadline() const {
  if (requesting()) return next_send_;
  if (state_ == State::Mapped) return sends_ > 0 ? next_send_ : renew_at_;
  return std::nullopt;
}

std::vector<Bytes> NatPmpMapper::close(TimePoint) {
  std::vector<Bytes> out;
  // §3.4: lifetime 0 deletes; also with a mapping request out, which the gateway may have granted.
  if (state_ == State::Mapped || state_ == State::AskingMapping) {
    out.push_back(natpmp::encode_map_request(config_.internal_port, 0, 0));
  }
  state_ = State::Closed;
  return out;
}

}  // namespace natpunch
