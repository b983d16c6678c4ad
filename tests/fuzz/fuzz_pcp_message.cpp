// libFuzzer target: the PCP (RFC 6887) MAP response parser. Invariants: no crash or sanitizer
// report; a parsed response re-encoded as a request with its own fields matches itself.
#include <cstddef>
#include <cstdint>

#include "portmap/pcp_message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  auto m = pcp::parse_map_response(ByteView(reinterpret_cast<const std::byte*>(data), size));
  if (!m) {
    (void)pcp::to_string(m.error());
    return 0;
  }
  (void)pcp::describe(m->result);
  pcp::MapRequest r;
  r.nonce = m->nonce;
  r.protocol = m->protocol;
  r.internal_port = m->internal_port;
  r.client = m->external;
  if (!pcp::matches(*m, r) || pcp::encode_map_request(r).size() != pcp::kMapMessageSize) __builtin_trap();
  return 0;
}
