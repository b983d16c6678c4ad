#pragma once

#include <chrono>

namespace natpunch {
// Protocol logic (wire, nat, punch, server) is told the time; only io/ reads the clock.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
}  // namespace natpunch
