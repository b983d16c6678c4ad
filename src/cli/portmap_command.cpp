// natpunch portmap: asks the gateway for a UDP port mapping (PCP, NAT-PMP, UPnP-IGD) or deletes
// one, with the same clients the agent uses (io/port_mapper.h).
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/port_mapper.h"

namespace natpunch::cli {

namespace {

constexpr std::uint32_t kMaxLifetime = 7 * 24 * 3600;  // a week: natpunch renews long before

struct PortmapOptions {
  std::string protocol = "auto";
  int internal_port = 0;
  int external_port = 0;
  std::uint32_t lifetime_s = 3600;
  std::string gateway;
  double timeout_s = 2;
  std::string pcp_nonce;
  bool remove = false;
  bool json = false;
};

std::string hex(const pcp::Nonce& n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : n) {
    out += kDigits[static_cast<unsigned>(b) >> 4];
    out += kDigits[static_cast<unsigned>(b) & 15];
  }
  return out;
}

std::optional<pcp::Nonce> parse_nonce(const std::string& text) {
  pcp::Nonce n{};
  if (text.size() != 2 * n.size()) return std::nullopt;
  for (std::size_t i = 0; i < n.size(); ++i) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      char c = text[2 * i + k];
      unsigned d = c >= '0' && c <= '9'   ? unsigned(c - '0')
                   : c >= 'a' && c <= 'f' ? unsigned(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? unsigned(c - 'A' + 10)
                                          : 16u;
      if (d > 15) return std::nullopt;
      v = v * 16 + d;
    }
    n[i] = std::byte(v);
  }
  return n;
}

nlohmann::json tried_json(const std::vector<MapAttempt>& attempts) {
  auto out = nlohmann::json::array();
  for (const auto& a : attempts) out.push_back({{"protocol", to_string(a.protocol)}, {"error", a.error}});
  return out;
}

int run_delete(const PortmapOptions& o, const PortMapRequest& req) {
  if (!req.only) return report_failure(o.json, "--delete needs --protocol pcp, nat-pmp or upnp-igd", kExitUsage);
  PortMapping m;
  m.protocol = *req.only;
  asio::ip::address_v4 gw;
  if (req.gateway) {
    gw = *req.gateway;
  } else {
    auto found = default_gateway();
    if (!found) return report_failure(o.json, found.error(), kExitFailed);
    gw = *found;
  }
  auto b = gw.to_bytes();
  m.gateway = SocketAddress::v4({b[0], b[1], b[2], b[3]}, m.protocol == MapProtocol::UpnpIgd ? 0 : pcp::kServerPort);
  m.internal.port = req.internal_port;
  m.external.port = static_cast<std::uint16_t>(o.external_port != 0 ? o.external_port : o.internal_port);
  m.timeout = req.timeout;
  if (m.protocol == MapProtocol::Pcp) {
    auto nonce = parse_nonce(o.pcp_nonce);
    if (!nonce) {
      return report_failure(o.json, "--delete --protocol pcp needs --pcp-nonce (24 hex digits, as the mapping printed)",
                            kExitUsage);
    }
    m.pcp_nonce = *nonce;
  }
  nlohmann::json base = {{"protocol", to_string(m.protocol)}, {"gateway", m.gateway.to_string()}};
  auto r = unmap(m);
  if (!r) return report_failure(o.json, r.error(), kExitFailed, base);
  if (o.json) {
    base["ok"] = true;
    base["deleted"] = true;
    std::cout << json_text(base) << std::endl;
  } else {
    std::cout << "deleted the " << to_string(m.protocol) << " mapping of internal port " << o.internal_port << " on "
              << m.gateway.ip_string() << std::endl;
  }
  return kExitOk;
}

int run_portmap(const PortmapOptions& o) {
  PortMapRequest req;
  req.internal_port = static_cast<std::uint16_t>(o.internal_port);
  req.lifetime = std::chrono::seconds(o.lifetime_s);
  req.suggested_external = static_cast<std::uint16_t>(o.external_port);
  req.timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000));
  if (o.protocol != "auto") {
    req.only = parse_map_protocol(o.protocol);
    if (!req.only) return report_failure(o.json, "--protocol must be auto, pcp, nat-pmp or upnp-igd", kExitUsage);
  }
  if (!o.gateway.empty()) {
    asio::error_code ec;
    auto gw = asio::ip::make_address_v4(o.gateway, ec);
    if (ec) return report_failure(o.json, "--gateway must be an IPv4 address: " + o.gateway, kExitUsage);
    req.gateway = gw;
  }
  if (o.remove) return run_delete(o, req);

  auto r = map_port(req);
  if (!r) {
    std::string message = "no port mapping:";
    for (const auto& a : r.error())
      message += std::string(" ") + std::string(to_string(a.protocol)) + ": " + a.error + ";";
    message.pop_back();
    return report_failure(o.json, message, kExitFailed, {{"tried", tried_json(r.error())}});
  }
  const auto& m = *r;
  if (o.json) {
    nlohmann::json j = {{"ok", true},
                        {"protocol", to_string(m.protocol)},
                        {"external", m.external.to_string()},
                        {"internal", m.internal.to_string()},
                        {"gateway", m.gateway.to_string()},
                        {"lifetime_s", m.lifetime.count()},
                        {"tried", tried_json(m.failed_first)}};
    if (m.protocol == MapProtocol::Pcp) j["pcp_nonce"] = hex(m.pcp_nonce);
    std::cout << json_text(j) << std::endl;
  } else {
    std::cout << "mapped " << m.external.to_string() << " -> " << m.internal.to_string() << " UDP with "
              << to_string(m.protocol) << " on " << m.gateway.to_string() << " for " << m.lifetime.count() << " s";
    if (m.protocol == MapProtocol::Pcp) std::cout << " (nonce " << hex(m.pcp_nonce) << ")";
    std::cout << std::endl;
  }
  return kExitOk;
}

}  // namespace

Runner add_portmap_command(CLI::App& app) {
  auto o = std::make_shared<PortmapOptions>();
  auto* cmd = app.add_subcommand(
      "portmap",
      "Ask the router for a public UDP port forwarded to a local port (PCP, NAT-PMP or UPnP-IGD), or delete it");
  cmd->add_option("--internal-port", o->internal_port, "Local UDP port to forward to (this host's LAN address)")
      ->required()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--protocol", o->protocol, "auto (PCP, then NAT-PMP, then UPnP-IGD), pcp, nat-pmp or upnp-igd")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "pcp", "nat-pmp", "upnp-igd"}));
  cmd->add_option("--external-port", o->external_port,
                  "Public port to ask for (default: any; UPnP-IGD asks for the internal port); with --delete, the "
                  "UPnP-IGD mapping's public port (default: the internal port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--lifetime", o->lifetime_s, "Seconds the mapping should last (the router may grant less)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint32_t{1}, kMaxLifetime));
  cmd->add_option("--gateway", o->gateway, "Router IPv4 address (default: the default route's gateway)");
  cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for each protocol")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 30.0));
  cmd->add_flag("--delete", o->remove, "Delete the mapping of --internal-port instead (needs --protocol)");
  cmd->add_option("--pcp-nonce", o->pcp_nonce, "With --delete --protocol pcp: the mapping's nonce (24 hex digits)");
  cmd->add_flag(
      "--json", o->json,
      R"(Print one JSON object: {"ok","protocol","external","internal","gateway","lifetime_s","tried":[{"protocol","error"}],"error"} (PCP adds "pcp_nonce"))");
  cmd->footer(
      "Exit status: 0 mapped (or deleted), 1 no protocol worked (\"tried\" says why each failed), 2 usage error.\n"
      "A mapping admits inbound UDP only; it lasts until its lifetime runs out or --delete.\n"
      "Examples:\n"
      "  natpunch portmap --internal-port 5000 --json\n"
      "  natpunch portmap --internal-port 5000 --protocol nat-pmp --lifetime 600\n"
      "  natpunch portmap --internal-port 5000 --protocol upnp-igd --delete");
  return [o] { return run_portmap(*o); };
}

}  // namespace natpunch::cli
