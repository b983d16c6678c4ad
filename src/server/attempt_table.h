// Connection attempts the server introduced: token → the two IDs, until it expires. A signal is
// relayed only between the two sides of a live attempt. Bounded in entries.
#pragma once

#include <deque>
#include <string>
#include <unordered_map>

#include "wire/clock.h"
#include "wire/control_messages.h"

namespace natpunch {

class AttemptTable {
 public:
  AttemptTable(std::size_t max_entries, std::chrono::seconds lifetime) : max_(max_entries), lifetime_(lifetime) {}

  void add(const AttemptToken& token, const std::string& a, const std::string& b, TimePoint now);
  // True when `token` names a live attempt between `from` and `to` (either order).
  bool allows(const AttemptToken& token, const std::string& from, const std::string& to, TimePoint now) const;
  void expire(TimePoint now);
  std::size_t size() const { return map_.size(); }

 private:
  struct Attempt {
    std::string a, b;
    TimePoint expires;
  };
  static std::string key(const AttemptToken& t) { return std::string(reinterpret_cast<const char*>(t.data()), t.size()); }
  std::size_t max_;
  std::chrono::seconds lifetime_;
  std::unordered_map<std::string, Attempt> map_;
  std::deque<std::pair<std::string, TimePoint>> order_;
};

}  // namespace natpunch
