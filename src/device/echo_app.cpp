#include "device/echo_app.h"

namespace natpunch {

bool EchoApp::on_event(const DeviceEvent& e, TimePoint now) {
  const auto* m = std::get_if<MessageEvent>(&e);
  if (!m) return false;
  if (!machine_.reply(m->connection, m->stream, m->data, now)) {
    ++failed_;
    return false;
  }
  ++echoed_;
  return true;
}

}  // namespace natpunch
