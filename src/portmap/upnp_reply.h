// What natpunch reads from a UPnP Internet Gateway Device (UPnP-IGD 1.0/2.0): the root description
// (XML, fetched over HTTP from the URL SSDP announced) names the WANIPConnection/WANPPPConnection
// service and its control URL; SOAP replies carry the external address and error codes. The XML is
// parsed by miniupnpc's own parsers (parserootdesc, ParseNameValue); these functions feed them the
// gateway's bytes and check what comes out before natpunch uses it. No sockets: io/ fetches.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "wire/address.h"
#include "wire/result.h"

namespace natpunch::upnp {

// Caps on what natpunch hands to miniupnpc's parsers (they take an int length).
inline constexpr std::size_t kMaxDescription = 64 * 1024;
inline constexpr std::size_t kMaxSoapReply = 16 * 1024;

struct IgdControl {
  std::string control_url;   // absolute http:// URL of the WAN*Connection service
  std::string service_type;  // urn:schemas-upnp-org:service:WANIPConnection:1 (or :2, or WANPPP…)
};

// Reads a root description fetched from `description_url` (relative URLs resolve against it, or
// against the description's URLBase). Errors say what is missing, for the user.
Result<IgdControl, std::string> read_root_description(std::string_view xml, const std::string& description_url,
                                                      unsigned scope_id = 0);

// The value of element `name` in a SOAP reply (e.g. "NewExternalIPAddress", "errorCode"), as
// miniupnpc's reply parser finds it.
std::optional<std::string> soap_value(std::string_view body, const char* name);

// NewExternalIPAddress must be a numeric IPv4 address and not 0.0.0.0 (the IGD has none yet).
Result<SocketAddress, std::string> parse_external_ip(std::string_view text);

// The host of an http:// URL ("192.168.1.1" of "http://192.168.1.1:5000/rootDesc.xml"), to tell
// whether an IGD that answered SSDP is the gateway. nullopt if it is not such a URL.
std::optional<std::string> url_host(std::string_view url);

// "UPnP error 718 (ConflictInMappingEntry)", or miniupnpc's negative codes ("HTTP error", …).
std::string describe_error(int code);

}  // namespace natpunch::upnp
