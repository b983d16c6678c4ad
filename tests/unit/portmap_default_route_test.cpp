// The default gateway from /proc/net/route text (as printed on a little-endian host).
#include <gtest/gtest.h>

#include <bit>

#include "portmap/default_route.h"

namespace natpunch {
namespace {

constexpr std::string_view kHeader =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\t\t\n";

TEST(DefaultRoute, ReadsTheGatewayOfTheDefaultRoute) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "text written on a little-endian host";
  std::string text(kHeader);
  text += "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";  // 10.0.2.0/24, on-link
  text += "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";  // default via 10.0.2.1
  auto r = parse_default_route(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->interface, "eth0");
  EXPECT_EQ(r->gateway.ip_string(), "10.0.2.1");
}

TEST(DefaultRoute, LowestMetricWinsAndDownRoutesDoNot) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP();
  std::string text(kHeader);
  text += "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n";  // 192.168.1.1, metric 600
  text += "eth0\t00000000\t FE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";  // 192.168.1.254, metric 100
  text += "eth1\t00000000\t0100000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";     // not RTF_UP
  auto r = parse_default_route(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->interface, "eth0");
  EXPECT_EQ(r->gateway.ip_string(), "192.168.1.254");
  EXPECT_EQ(r->metric, 100u);
}

TEST(DefaultRoute, NoneWithoutAGatewayRoute) {
  EXPECT_FALSE(parse_default_route(""));
  EXPECT_FALSE(parse_default_route(kHeader));
  std::string text(kHeader);
  text += "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
  text += "eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";  // default, no gateway (point-to-point)
  text += "garbage line\n\n\t\t\n";
  text += "eth0\t00000000\t0102000A\t00G3\t0\t0\t0\t00000000\t0\t0\t0\n";   // bad flags
  text += "eth0\t00000000\t10102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";  // 9 hex digits
  EXPECT_FALSE(parse_default_route(text));
}

}  // namespace
}  // namespace natpunch
