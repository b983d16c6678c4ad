#include "cli/common.h"

#include <fstream>

#include "cli/commands.h"
#include "io/endpoint.h"
#include "io/rendezvous_client.h"
#include "io/service_socket.h"

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

Result<ClientSocket, CommandError> open_client_socket(asio::io_context& io, const std::string& server_text,
                                                      const std::string& bind_text) {
  auto servers = resolve_host_port_all(io, server_text);
  if (!servers) return fail(CommandError{"--server: " + servers.error(), kExitUsage});
  std::optional<asio::ip::udp::endpoint> bind;
  if (!bind_text.empty()) {
    auto b = parse_socket_address(bind_text);
    if (!b) return fail(CommandError{"--bind expects IP:PORT, got '" + bind_text + "'", kExitUsage});
    bind = to_endpoint(*b);
  }
  // Every address of the service (A and AAAA): the first to answer is used (io/service_socket.h).
  auto opened = open_service_socket(io, *servers, bind);
  if (!opened) {
    const auto& e = opened.error();
    return fail(CommandError{(e.usage ? "--server: " : "") + e.message, e.usage ? kExitUsage : kExitFailed});
  }
  return ClientSocket{opened->server, std::move(opened->socket)};
}

std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int report_failure(bool json, const std::string& message, int code, nlohmann::json extra) {
  if (json) {
    nlohmann::json j = {{"ok", false}, {"error", message}};
    if (extra.is_object()) j.update(extra);
    std::cout << json_text(j) << std::endl;
  } else {
    std::cerr << "natpunch: " << message << std::endl;
  }
  return code;
}

double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

Result<std::string, std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot open");
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return fail(path + ": cannot read");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) return fail(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

}  // namespace natpunch::cli
