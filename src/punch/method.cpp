#include "punch/method.h"

namespace natpunch {

std::string_view to_string(Method m) {
  switch (m) {
    case Method::Direct: return "direct";
    case Method::PortMapped: return "port-mapped";
    case Method::Simultaneous: return "simultaneous";
    case Method::BirthdayListenFirst: return "birthday-listen-first";
    case Method::BirthdaySprayFirst: return "birthday-spray-first";
  }
  return "direct";
}

std::optional<Method> parse_method(std::string_view s) {
  for (auto m : {Method::Direct, Method::PortMapped, Method::Simultaneous, Method::BirthdayListenFirst, Method::BirthdaySprayFirst})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

}  // namespace natpunch
