// The agent's application (`natpunch agent`): every message a peer sends on a stream goes back to
// it on that stream. An application on the device runtime like any other: it is handed the
// machine's events and answers through the machine's API (DeviceMachine::reply); the machine
// itself knows nothing of echoing.
#pragma once

#include <cstdint>

#include "device/device_machine.h"

namespace natpunch {

class EchoApp {
 public:
  explicit EchoApp(DeviceMachine& machine) : machine_(machine) {}

  // True when `e` was a message and its echo was queued.
  bool on_event(const DeviceEvent& e, TimePoint now);

  std::uint64_t echoed() const { return echoed_; }
  std::uint64_t failed() const { return failed_; }  // the session was gone or refused the reply

 private:
  DeviceMachine& machine_;
  std::uint64_t echoed_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace natpunch
