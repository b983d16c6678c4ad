// Runs a DeviceMachine (device/device_machine.h) over real sockets: the main socket it is given,
// the extra sockets the machine asks for (bound on the main socket's address, ephemeral ports),
// one timer at the machine's next deadline, and the router port mapping as blocking jobs off the
// loop (io/off_loop_job.h). Every event goes to `on_event` as it happens; the callback may act on
// the machine (send a message, close a session, stop).
//
// Ending: stop() (from a signal handler, or the callback) makes the machine close its sessions;
// the loop runs their closing periods (at most `stop_linger`), releases the port mapping, and
// returns. It also ends at `run_until`.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "device/device_machine.h"
#include "io/awaitable.h"
#include "io/port_mapper.h"

namespace natpunch {

struct DeviceLoopOptions {
  std::optional<TimePoint> run_until;
  std::chrono::milliseconds stop_linger{2500};
  // How MapPort is carried out (internal port and lifetime come from the machine).
  PortMapRequest port_map;
  std::function<void(const DeviceEvent&)> on_event;
};

// Raises this process's open-file limit to its hard limit (a birthday listener opens hundreds of
// sockets) and returns the soft limit now in force.
std::size_t raise_file_limit();

class DeviceLoop {
 public:
  DeviceLoop(asio::io_context& io, DeviceMachine& machine, asio::ip::udp::socket& main, DeviceLoopOptions options);
  DeviceLoop(const DeviceLoop&) = delete;
  DeviceLoop& operator=(const DeviceLoop&) = delete;
  ~DeviceLoop();

  asio::awaitable<void> run();
  void stop();

  // The router's mapping the loop holds (for printing), when there is one.
  const std::optional<PortMapping>& port_mapping() const { return mapping_; }
  // Datagrams sent so far (every socket; registration and discovery included).
  std::uint64_t datagrams_sent() const { return sent_; }
  // Why MapPort failed, as each protocol said.
  const std::vector<MapAttempt>& port_mapping_attempts() const { return map_attempts_; }

 private:
  struct Socket {
    asio::ip::udp::socket socket;
    bool open = true;
  };
  void pump();
  void execute(DeviceCommand& c);
  void open_sockets(const OpenSockets& c);
  void receive(SocketHandle h);
  asio::awaitable<void> receive_loop(SocketHandle h, std::shared_ptr<Socket> s);
  asio::awaitable<void> map_port(PortMapRequest req);
  asio::awaitable<void> renew_mapping();
  void close_extra(SocketHandle h);

  asio::io_context& io_;
  DeviceMachine& machine_;
  asio::ip::udp::socket& main_;
  DeviceLoopOptions options_;
  std::map<SocketHandle, std::shared_ptr<Socket>> extra_;
  asio::steady_timer wake_;
  bool stopping_ = false;
  bool ended_ = false;
  int receivers_ = 0;
  int jobs_ = 0;
  std::optional<PortMapping> mapping_;
  std::vector<MapAttempt> map_attempts_;
  bool release_mapping_ = false;
  std::uint64_t sent_ = 0;
};

}  // namespace natpunch
