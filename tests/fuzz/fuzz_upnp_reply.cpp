// libFuzzer target: what a UPnP IGD sends natpunch, through miniupnpc's parsers (parserootdesc,
// ParseNameValue/GetValueFromNameValueList; Debian's libminiupnpc, not instrumented, so coverage
// guides by natpunch's side) and natpunch's checks on what comes out (portmap/upnp_reply.h). The
// same input is read as a root description, as a SOAP reply and as a URL. Invariants: no crash or
// sanitizer report; an accepted control URL is absolute http, an accepted address is IPv4 and set.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

#include "portmap/upnp_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto control = upnp::read_root_description(text, "http://192.168.1.1:5000/rootDesc.xml");
  if (control && (control->control_url.rfind("http://", 0) != 0 || control->service_type.empty())) __builtin_trap();

  if (auto ip = upnp::soap_value(text, "NewExternalIPAddress")) {
    auto a = upnp::parse_external_ip(*ip);
    if (a && (a->family != Family::V4 || a->is_unspecified())) __builtin_trap();
  }
  if (auto code = upnp::soap_value(text, "errorCode")) {
    int v = 0;
    std::from_chars(code->data(), code->data() + code->size(), v);
    if (upnp::describe_error(v).empty()) __builtin_trap();
  }
  if (auto host = upnp::url_host(text); host && (host->empty() || host->size() > 255)) __builtin_trap();
  return 0;
}
