#include "cli/common.h"

#include "io/endpoint.h"

namespace natpunch::cli {

std::string local_toward(asio::io_context& io, const asio::ip::udp::endpoint& server, std::uint16_t port) {
  asio::ip::udp::socket probe(io);
  asio::error_code ec;
  probe.open(server.protocol(), ec);
  if (!ec) probe.connect(server, ec);  // UDP connect sends nothing; it only picks a route
  if (ec) return "";
  auto local = from_endpoint(probe.local_endpoint(ec));
  local.port = port;
  return ec ? "" : local.to_string();
}

RetransmitPolicy client_policy(double timeout_s, int rto_ms) {
  RetransmitPolicy p;
  p.rto = std::chrono::milliseconds(std::max(rto_ms, 1));
  p.deadline = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  return p;
}

int report_failure(bool json, const std::string& message, int code, nlohmann::json extra) {
  if (json) {
    nlohmann::json j = {{"ok", false}, {"error", message}};
    if (extra.is_object()) j.update(extra);
    std::cout << j.dump() << std::endl;
  } else {
    std::cerr << "natpunch: " << message << std::endl;
  }
  return code;
}

double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace natpunch::cli
