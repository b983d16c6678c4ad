#include "cli/punch_options.h"

#include <charconv>

namespace natpunch::cli {

void add_punch_options(CLI::App& cmd, PunchOptions& o) {
  cmd.add_option("--ports", o.ports, "N: sockets the symmetric side opens (birthday)")->capture_default_str();
  cmd.add_option("--probes", o.probes, "M: ports of the symmetric side the cone side probes (birthday)")
      ->capture_default_str();
  cmd.add_option("--port-range", o.port_range, "LO-HI: the ports the cone side probes")->capture_default_str();
  cmd.add_option("--rate", o.rate, "Pacing of new flows in packets/second (0 = unpaced)")->capture_default_str();
  cmd.add_option("--method", o.method, "auto | direct | simultaneous | birthday-listen-first | birthday-spray-first")
      ->capture_default_str();
}

Result<std::pair<PunchTuning, std::optional<Method>>, std::string> to_tuning(const PunchOptions& o) {
  PunchTuning t;
  if (o.ports < 1 || o.ports > 1024) return fail(std::string("--ports must be 1..1024"));
  if (o.probes < 1 || o.probes > 65535) return fail(std::string("--probes must be 1..65535"));
  if (o.rate < 0 || o.rate > 100000) return fail(std::string("--rate must be 0..100000 packets/s"));
  auto dash = o.port_range.find('-');
  unsigned lo = 0, hi = 0;
  bool ok = dash != std::string::npos;
  if (ok) {
    auto a = std::from_chars(o.port_range.data(), o.port_range.data() + dash, lo);
    auto b = std::from_chars(o.port_range.data() + dash + 1, o.port_range.data() + o.port_range.size(), hi);
    ok = a.ec == std::errc{} && b.ec == std::errc{} && a.ptr == o.port_range.data() + dash &&
         b.ptr == o.port_range.data() + o.port_range.size() && lo >= 1 && hi <= 65535 && lo <= hi;
  }
  if (!ok) return fail("--port-range expects LO-HI within 1-65535, got '" + o.port_range + "'");
  t.ports = o.ports;
  t.port_lo = static_cast<std::uint16_t>(lo);
  t.port_hi = static_cast<std::uint16_t>(hi);
  t.probes = std::min<int>(o.probes, static_cast<int>(hi - lo + 1));
  t.rate_pps = o.rate;
  std::optional<Method> m;
  if (o.method != "auto") {
    m = parse_method(o.method);
    if (!m) return fail("--method: unknown method '" + o.method + "'");
  }
  return std::pair{t, m};
}

}  // namespace natpunch::cli
