// What natpunch reads from a UPnP IGD, through miniupnpc's parsers: miniupnpd's root description
// (the lab's router), a GetExternalIPAddress reply and a SOAP fault, and what is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "portmap/upnp_reply.h"

namespace natpunch::upnp {
namespace {

std::string seed(const std::string& name) {
  std::ifstream in(std::string(NATPUNCH_SOURCE_DIR) + "/tests/fuzz/corpus/upnp_reply/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(UpnpReply, MiniupnpdRootDescription) {
  auto c = read_root_description(seed("miniupnpd-rootdesc.xml"), "http://192.168.1.1:5000/rootDesc.xml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->service_type, "urn:schemas-upnp-org:service:WANIPConnection:1");
  EXPECT_EQ(c->control_url, "http://192.168.1.1:5000/ctl/IPConn");
}

TEST(UpnpReply, DescriptionsWithoutAWanConnectionAreRefused) {
  EXPECT_FALSE(read_root_description("", "http://192.168.1.1:5000/rootDesc.xml").ok());
  EXPECT_FALSE(read_root_description("<root><device></device></root>", "http://192.168.1.1/d.xml").ok());
  auto d = seed("miniupnpd-rootdesc.xml");
  auto at = d.find("WANIPConnection:1");
  d.replace(at, 17, "WANIPv6FirewallControl:1");
  auto r = read_root_description(d, "http://192.168.1.1:5000/rootDesc.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no WANIPConnection"), std::string::npos);
  EXPECT_FALSE(read_root_description(std::string(kMaxDescription + 1, '<'), "http://192.168.1.1/").ok());
}

TEST(UpnpReply, ExternalAddressFromSoap) {
  auto v = soap_value(seed("get-external-ip.xml"), "NewExternalIPAddress");
  ASSERT_TRUE(v);
  auto a = parse_external_ip(*v);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->ip_string(), "203.0.113.20");
  EXPECT_FALSE(parse_external_ip("").ok());
  EXPECT_FALSE(parse_external_ip("0.0.0.0").ok());
  EXPECT_FALSE(parse_external_ip("2001:db8::1").ok());
  EXPECT_FALSE(parse_external_ip("203.0.113.20 ").ok());
}

TEST(UpnpReply, ErrorCodeFromAFault) {
  auto v = soap_value(seed("conflict-718.xml"), "errorCode");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "718");
  EXPECT_EQ(describe_error(718), "UPnP error 718 (ConflictInMappingEntry)");
  EXPECT_EQ(describe_error(-3), "HTTP error talking to the IGD");
  EXPECT_FALSE(soap_value(seed("conflict-718.xml"), "NewExternalIPAddress"));
}

TEST(UpnpReply, UrlHost) {
  EXPECT_EQ(url_host("http://192.168.1.1:5000/rootDesc.xml"), "192.168.1.1");
  EXPECT_EQ(url_host("http://10.0.0.1/x"), "10.0.0.1");
  EXPECT_EQ(url_host("http://10.0.0.1"), "10.0.0.1");
  EXPECT_FALSE(url_host("https://10.0.0.1/"));
  EXPECT_FALSE(url_host("http:///x"));
}

}  // namespace
}  // namespace natpunch::upnp
