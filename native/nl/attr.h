// Netlink attributes: a writer that appends to a growable buffer and a reader
// that never reads outside the bytes it was given. No N-API here, so this file
// can be fuzzed and sanitized on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nl {

// Malformed input from the kernel (or from a fuzzer). Carries what was wrong
// and where, in words ("attribute 4: expected 4 bytes for u32, got 2").
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr size_t kAlign = 4;
inline constexpr size_t align(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Appends netlink messages and attributes to a byte buffer. Several messages
// may share one buffer: the kernel processes them in order from one send.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& buf) : buf_(buf) {}

  // Starts a message; returns its offset for endMessage().
  size_t beginMessage(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portId);
  void endMessage(size_t offset);

  // Appends raw bytes (a fixed header such as genlmsghdr), padded to 4.
  void putRaw(const void* data, size_t len);

  void put(uint16_t type, const void* data, size_t len);
  void putU8(uint16_t type, uint8_t v) { put(type, &v, 1); }
  void putU16(uint16_t type, uint16_t v) { put(type, &v, 2); }
  void putU32(uint16_t type, uint32_t v) { put(type, &v, 4); }
  void putU64(uint16_t type, uint64_t v) { put(type, &v, 8); }
  // Network byte order, for ports: the kernel stores them as __be16.
  void putBe16(uint16_t type, uint16_t v);
  // NUL-terminated, as NLA_NUL_STRING / NLA_STRING policies expect.
  void putString(uint16_t type, std::string_view s);

  // NLA_F_NESTED marks the attribute as nested, as requests should; the
  // kernel's own replies leave it out (nla_nest_start_noflag).
  size_t beginNested(uint16_t type, bool flagged = true);
  void endNested(size_t offset);

  size_t size() const { return buf_.size(); }

 private:
  std::vector<uint8_t>& buf_;
};

// One attribute inside a buffer that has already been bounds-checked.
class Attr {
 public:
  Attr() = default;
  Attr(uint16_t type, const uint8_t* data, size_t len) : type_(type), data_(data), len_(len) {}

  uint16_t type() const { return type_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return len_; }

  // Typed reads check the exact length and throw ParseError otherwise.
  uint8_t u8() const;
  uint16_t u16() const;
  uint32_t u32() const;
  uint64_t u64() const;
  uint16_t be16() const;
  // Up to the first NUL, or the whole payload when there is none.
  std::string str() const;

 private:
  void expect(size_t n, const char* what) const;
  uint16_t type_ = 0;
  const uint8_t* data_ = nullptr;
  size_t len_ = 0;
};

// Iterates over a run of attributes. A header that claims more bytes than are
// left, or fewer than a header, throws ParseError; nothing past `len` is read.
class AttrIterator {
 public:
  AttrIterator(const uint8_t* data, size_t len) : p_(data), left_(len) {}
  explicit AttrIterator(const Attr& nested) : p_(nested.data()), left_(nested.size()) {}
  bool next(Attr& out);

 private:
  const uint8_t* p_;
  size_t left_;
};

// Attributes indexed by type, last one wins; types above `maxType` are
// skipped so that a newer kernel's additions are ignored.
template <size_t N>
class AttrTable {
 public:
  AttrTable(const uint8_t* data, size_t len) { fill(AttrIterator(data, len)); }
  explicit AttrTable(const Attr& nested) { fill(AttrIterator(nested)); }
  const Attr* get(size_t type) const { return type < N && present_[type] ? &attrs_[type] : nullptr; }
  bool has(size_t type) const { return get(type) != nullptr; }

 private:
  void fill(AttrIterator it) {
    Attr a;
    while (it.next(a)) {
      size_t t = a.type();
      if (t < N) {
        attrs_[t] = a;
        present_[t] = true;
      }
    }
  }
  Attr attrs_[N];
  bool present_[N] = {};
};

}  // namespace nl
