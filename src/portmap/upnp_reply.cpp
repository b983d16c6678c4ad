#include "portmap/upnp_reply.h"

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <miniupnpc/upnpreplyparse.h>

#include <cstring>

namespace natpunch::upnp {

namespace {

// The field as a string: miniupnpc's fixed buffers are NUL-terminated, but bound the read anyway.
std::string_view bounded(const char* s, std::size_t cap) { return {s, ::strnlen(s, cap)}; }

bool is_wan_connection(std::string_view service_type) {
  return service_type.find("urn:schemas-upnp-org:service:WANIPConnection:") == 0 ||
         service_type.find("urn:schemas-upnp-org:service:WANPPPConnection:") == 0;
}

// A control URL natpunch will POST to: absolute http, printable, no spaces (it goes into a request line).
bool acceptable_url(std::string_view url) {
  if (url.rfind("http://", 0) != 0 || url.size() <= 7 || url.size() > 2 * MINIUPNPC_URL_MAXSIZE + 64) return false;
  for (char c : url) {
    if (c <= ' ' || c >= 127) return false;
  }
  return true;
}

}  // namespace

Result<IgdControl, std::string> read_root_description(std::string_view xml, const std::string& description_url,
                                                      unsigned scope_id) {
  if (xml.empty()) return fail(std::string("empty root description"));
  if (xml.size() > kMaxDescription) return fail(std::string("root description over 64 KiB"));
  IGDdatas data{};
  ::parserootdesc(xml.data(), static_cast<int>(xml.size()), &data);
  auto first = bounded(data.first.servicetype, sizeof data.first.servicetype);
  auto second = bounded(data.second.servicetype, sizeof data.second.servicetype);
  if (!is_wan_connection(first) && is_wan_connection(second)) data.first = data.second;
  IgdControl out;
  out.service_type = std::string(bounded(data.first.servicetype, sizeof data.first.servicetype));
  if (!is_wan_connection(out.service_type)) {
    return fail(std::string("no WANIPConnection or WANPPPConnection service in the root description"));
  }
  if (bounded(data.first.controlurl, sizeof data.first.controlurl).empty()) {
    return fail(std::string("the WAN connection service has no control URL"));
  }
  UPNPUrls urls{};
  ::GetUPNPUrls(&urls, &data, description_url.c_str(), scope_id);
  if (urls.controlURL) out.control_url = urls.controlURL;
  ::FreeUPNPUrls(&urls);
  if (!acceptable_url(out.control_url)) return fail(std::string("the control URL is not an absolute http:// URL"));
  return out;
}

std::optional<std::string> soap_value(std::string_view body, const char* name) {
  if (body.size() > kMaxSoapReply) return std::nullopt;
  NameValueParserData pdata{};
  ::ParseNameValue(body.data(), static_cast<int>(body.size()), &pdata);
  std::optional<std::string> out;
  if (const char* v = ::GetValueFromNameValueList(&pdata, name)) out.emplace(bounded(v, sizeof(NameValue::value)));
  ::ClearNameValueList(&pdata);
  return out;
}

Result<SocketAddress, std::string> parse_external_ip(std::string_view text) {
  if (text.empty()) return fail(std::string("the IGD reported no external address"));
  auto a = parse_ip(text.substr(0, 64));
  if (!a || a->family != Family::V4 || text.size() > 64) {
    return fail(std::string("the IGD's external address is not an IPv4 address"));
  }
  if (a->is_unspecified()) return fail(std::string("the IGD has no external address (0.0.0.0)"));
  return *a;
}

std::optional<std::string> url_host(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  auto rest = url.substr(kScheme.size());
  auto end = rest.find_first_of(":/?#");
  auto host = rest.substr(0, end);
  if (host.empty() || host.size() > 255) return std::nullopt;
  return std::string(host);
}

std::string describe_error(int code) {
  switch (code) {
    case UPNPCOMMAND_UNKNOWN_ERROR: return "unknown error (no answer or an unreadable one)";
    case UPNPCOMMAND_INVALID_ARGS: return "invalid arguments";
    case UPNPCOMMAND_HTTP_ERROR: return "HTTP error talking to the IGD";
    case UPNPCOMMAND_INVALID_RESPONSE: return "invalid SOAP response";
    case UPNPCOMMAND_MEM_ALLOC_ERROR: return "out of memory";
    default: break;
  }
  const char* name = ::strupnperror(code);
  std::string out = "UPnP error " + std::to_string(code);
  if (name) out += std::string(" (") + std::string(bounded(name, 128)) + ")";
  return out;
}

}  // namespace natpunch::upnp
