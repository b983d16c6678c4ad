// Remembers the answers to recent requests by (source, receiving socket, transaction ID, method),
// so a retransmitted request gets exactly the same answer (RFC 8489 §6.3.1: the server should
// answer retransmissions idempotently). A request that reuses a transaction ID with another
// method, or arrives on another socket, is a new request. Bounded in entries and age.
#pragma once

#include <deque>
#include <unordered_map>
#include <vector>

#include "wire/clock.h"
#include "wire/address.h"
#include "wire/message.h"

namespace natpunch {

struct Reply {
  Bytes bytes;
  SocketAddress destination;
  std::uint8_t socket = 0;  // index of the server socket that sends it
};

class DuplicateCache {
 public:
  DuplicateCache(std::size_t max_entries, std::chrono::seconds window)
      : max_entries_(max_entries), window_(window) {}

  struct Key {
    SocketAddress source;
    std::uint8_t socket = 0;
    std::uint16_t method = 0;
    TransactionId txid;
    bool operator==(const Key&) const = default;
  };

  const std::vector<Reply>* find(const Key& key, TimePoint now);
  void store(const Key& key, std::vector<Reply> replies, TimePoint now);
  void expire(TimePoint now);
  std::size_t size() const { return map_.size(); }

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    std::vector<Reply> replies;
    TimePoint stored;
  };
  std::size_t max_entries_;
  std::chrono::seconds window_;
  std::unordered_map<Key, Entry, KeyHash> map_;
  std::deque<std::pair<Key, TimePoint>> order_;
};

}  // namespace natpunch
