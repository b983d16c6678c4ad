// Bounded big-endian reader and growing writer over bytes. The reader never reads past its span:
// every read reports failure instead, and the caller turns that into a named error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace natpunch {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;

class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    auto v = static_cast<std::uint16_t>((to_u(data_[pos_]) << 8) | to_u(data_[pos_ + 1]));
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | to_u(data_[pos_ + i]);
    pos_ += 4;
    return v;
  }
  std::optional<ByteView> take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    auto v = data_.subspan(pos_, n);
    pos_ += n;
    return v;
  }

 private:
  static std::uint32_t to_u(std::byte b) { return static_cast<std::uint32_t>(b); }
  ByteView data_;
  std::size_t pos_ = 0;
};

class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(std::byte{v}); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void bytes(ByteView v) { out_.insert(out_.end(), v.begin(), v.end()); }
  void text(std::string_view s) {
    for (char c : s) u8(static_cast<std::uint8_t>(c));
  }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, std::byte{0}); }
  std::size_t size() const { return out_.size(); }

 private:
  Bytes& out_;
};

inline void put_u16_at(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = std::byte(v >> 8);
  b[at + 1] = std::byte(v & 0xff);
}

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline std::string_view as_text(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex, for logs and tests (never echo raw attacker bytes into logs).
std::string to_hex(ByteView b);
// Parses hex with optional whitespace; nullopt on any other character or an odd digit count.
std::optional<Bytes> from_hex(std::string_view s);

}  // namespace natpunch
