#include "device/attempt.h"

#include <algorithm>

namespace natpunch {

using std::chrono::milliseconds;

namespace {
bool birthday(Method m) { return m == Method::BirthdayListenFirst || m == Method::BirthdaySprayFirst; }

// When the peer must have been heard from (see attempt.h), or nullopt for a birthday listener.
std::optional<TimePoint> silent_deadline_for(const Plan& plan, const PunchTuning& tuning, TimePoint start,
                                             milliseconds silent_peer) {
  milliseconds before{0};
  for (const auto& st : plan.steps) {
    if (st.role == BirthdayRole::Listener) return std::nullopt;
    if (birthday(st.method)) {
      if (st.method == Method::BirthdayListenFirst && tuning.rate_pps > 0)
        before += milliseconds(static_cast<long long>(tuning.ports * 1000.0 / tuning.rate_pps));
      break;
    }
    before += st.budget;
  }
  return start + before + silent_peer;
}
}  // namespace

Attempt::Attempt(PeerInfo info, PunchSetup setup, TimePoint now, AttemptTiming timing,
                 std::optional<TimePoint> deadline)
    : info_(std::move(info)), plan_(setup.plan), puncher_(setup), created_(now), deadline_(deadline) {
  milliseconds budget{0};
  for (const auto& st : plan_.steps) budget += st.budget;
  hard_end_ = now + budget + timing.slack;
  if (deadline && *deadline < hard_end_) {
    hard_end_ = *deadline;
    cut_by_deadline_ = true;
  }
  silent_deadline_ = silent_deadline_for(plan_, setup.tuning, now, timing.silent_peer);
}

void Attempt::start(std::vector<SocketHandle> extra, TimePoint now) {
  if (started_ || finished_) return;
  started_ = true;
  handles_.insert(handles_.end(), extra.begin(), extra.end());
  take(puncher_.start(now));
  check(now);
}

void Attempt::on_datagram(SocketHandle socket, const SocketAddress& from, ByteView bytes, TimePoint now) {
  if (!started_) return;
  auto it = std::find(handles_.begin(), handles_.end(), socket);
  if (it == handles_.end()) return;
  // A finished Puncher still answers late probes on its path (its peer lost the confirm).
  take(puncher_.on_datagram(InDatagram{static_cast<std::size_t>(it - handles_.begin()), from, bytes}, now));
  check(now);
}

void Attempt::on_timer(TimePoint now) {
  if (!started_ || finished_) return;
  if (auto t = puncher_.next_deadline(); t && *t <= now) take(puncher_.on_timer(now));
  check(now);
}

void Attempt::fail(std::string why, TimePoint now) {
  if (finished_) return;
  outcome_ = puncher_.outcome();
  outcome_.ok = false;
  outcome_.error = std::move(why);
  end(now);
}

void Attempt::check(TimePoint now) {
  if (finished_) return;
  if (puncher_.finished()) {
    outcome_ = puncher_.outcome();
    end(now);
    return;
  }
  if (silent_deadline_ && now >= *silent_deadline_ && !puncher_.heard_from_peer()) {
    silent_ = true;
    fail("the peer stayed silent (nothing from it in " +
             std::to_string(std::chrono::duration_cast<milliseconds>(now - created_).count()) + " ms)",
         now);
    return;
  }
  if (now >= hard_end_)
    fail(cut_by_deadline_ ? "timed out (the deadline was reached while punching)" : "timed out", now);
}

void Attempt::end(TimePoint now) {
  finished_ = true;
  finished_at_ = now;
  outcome_.elapsed = elapsed();
}

std::optional<TimePoint> Attempt::next_deadline() const {
  if (!started_ || finished_) return std::nullopt;
  auto t = std::min(puncher_.next_deadline().value_or(hard_end_), hard_end_);
  if (silent_deadline_ && !puncher_.heard_from_peer()) t = std::min(t, *silent_deadline_);
  return t;
}

void Attempt::take(std::vector<OutDatagram> out) {
  for (auto& d : out) out_.push_back(OutDatagram{handle(d.socket), d.to, std::move(d.bytes)});
}

std::vector<OutDatagram> Attempt::take_datagrams() { return std::exchange(out_, {}); }

milliseconds Attempt::elapsed() const {
  return std::chrono::duration_cast<milliseconds>((finished_ ? finished_at_ : created_) - created_);
}

}  // namespace natpunch
