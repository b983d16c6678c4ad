// libFuzzer target: the NAT-PMP (RFC 6886) answer parser (natpunch's own; libnatpmp's cannot be fed
// bytes, see portmap/natpmp_message.h). Invariants: no crash or sanitizer report; a success answer
// carries the fields of its opcode and answers its own request.
#include <cstddef>
#include <cstdint>

#include "portmap/natpmp_message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  auto r = natpmp::parse_response(ByteView(reinterpret_cast<const std::byte*>(data), size));
  if (!r) {
    (void)natpmp::to_string(r.error());
    return 0;
  }
  (void)natpmp::describe(r->result);
  const auto op = static_cast<std::uint8_t>(r->opcode & 0x7f);
  if (!natpmp::answers(*r, op, r->internal_port)) __builtin_trap();
  if (r->result == natpmp::ResultCode::Success && op == natpmp::kOpExternalAddress && !r->external_address) {
    __builtin_trap();
  }
  if (size < 8) __builtin_trap();  // every answer has the 8-byte header
  return 0;
}
