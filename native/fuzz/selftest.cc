// nl_selftest: unit tests of the netlink attribute reader, message walker, ACK
// parser and IPVS codec on truncated, oversized and misaligned input, plus
// deterministic random mutations of valid messages. Built with ASan/UBSan by
// native/CMakeLists.txt (npm run test:native): the contract is that parsers
// return or throw nl::ParseError and never read outside the bytes given.
//
// Every input is copied into a heap block of exactly its size (optionally at
// an odd offset), so a read one byte past the end is an ASan report.
//
//   nl_selftest [--iterations N] [--seed S] [--only GROUP] [--write-corpus DIR]
//
// --only runs the groups whose name contains GROUP (e.g. --only mutations).

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <sys/stat.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/harness.h"
#include "ipvs/codec.h"
#include "nl/attr.h"
#include "nl/genl.h"
#include "nl/socket.h"

namespace {

// --- a tiny test framework ---------------------------------------------------

int passed = 0;
int failed = 0;

void pass() { ++passed; }

void fail(const char* file, int line, const std::string& what) {
  ++failed;
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <typename T>
std::string show(const T& v) {
  std::ostringstream s;
  if constexpr (std::is_same_v<T, uint8_t>) {
    s << static_cast<unsigned>(v);
  } else {
    s << v;
  }
  return s.str();
}

#define CHECK(cond) ((cond) ? pass() : fail(__FILE__, __LINE__, #cond))

#define CHECK_EQ(actual, expected)                                                                    \
  do {                                                                                                \
    auto&& a_ = (actual);                                                                             \
    auto&& e_ = (expected);                                                                           \
    if (a_ == e_) {                                                                                   \
      pass();                                                                                         \
    } else {                                                                                          \
      fail(__FILE__, __LINE__, std::string(#actual " == " #expected ": got ") + show(a_) + ", want " + \
                                   show(e_));                                                         \
    }                                                                                                 \
  } while (0)

// Expects nl::ParseError whose message contains `needle` (nullptr: any).
template <typename Fn>
void checkParseError(Fn&& fn, const char* needle, const char* file, int line, const char* expr) {
  try {
    fn();
    fail(file, line, std::string(expr) + ": returned, expected nl::ParseError");
  } catch (const nl::ParseError& e) {
    if (needle && !std::strstr(e.what(), needle)) {
      fail(file, line, std::string(expr) + ": message \"" + e.what() + "\" lacks \"" + needle + "\"");
    } else {
      pass();
    }
  } catch (const std::exception& e) {
    fail(file, line, std::string(expr) + ": threw a non-ParseError: " + e.what());
  }
}

template <typename Fn>
void checkReturns(Fn&& fn, const char* file, int line, const char* expr) {
  try {
    fn();
    pass();
  } catch (const std::exception& e) {
    fail(file, line, std::string(expr) + ": threw " + e.what());
  }
}

#define CHECK_PARSE_ERROR(expr, needle) checkParseError([&] { (void)(expr); }, needle, __FILE__, __LINE__, #expr)
#define CHECK_RETURNS(expr) checkReturns([&] { (void)(expr); }, __FILE__, __LINE__, #expr)

// --- byte building -----------------------------------------------------------

using Bytes = std::vector<uint8_t>;

// The bytes of `v` in a heap block of exactly `skew + v.size()` bytes, starting
// at offset `skew`: the byte after the end is an ASan redzone, and a skew of
// 1..3 misaligns the start.
class Exact {
 public:
  explicit Exact(const Bytes& v, size_t skew = 0)
      : block_(new uint8_t[skew + v.size()]), skew_(skew), size_(v.size()) {
    std::memset(block_.get(), 0xa5, skew);
    if (!v.empty()) std::memcpy(block_.get() + skew, v.data(), v.size());
  }
  const uint8_t* data() const { return block_.get() + skew_; }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> block_;
  size_t skew_;
  size_t size_;
};

// Runs fn on the bytes at every misalignment 0..3.
template <typename Fn>
void atEverySkew(const Bytes& b, Fn&& fn) {
  for (size_t skew = 0; skew < 4; ++skew) {
    Exact e(b, skew);
    fn(e.data(), e.size());
  }
}

template <typename T>
void add(Bytes& b, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof v);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes fill(size_t n, uint8_t v = 0) { return Bytes(n, v); }

// An attribute header with whatever length it claims, followed by `payload`
// as given (no padding unless `pad`).
Bytes rawAttr(uint16_t nlaLen, uint16_t type, const Bytes& payload = {}, bool pad = false) {
  Bytes b;
  add<uint16_t>(b, nlaLen);
  add<uint16_t>(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  if (pad) b.resize(nl::align(b.size()), 0);
  return b;
}

// A well-formed attribute: the length is the real one, padding included.
Bytes attr(uint16_t type, const Bytes& payload, bool pad = true) {
  return rawAttr(static_cast<uint16_t>(NLA_HDRLEN + payload.size()), type, payload, pad);
}

// A netlink message header claiming `len` bytes, followed by `payload`.
Bytes rawMsg(uint32_t len, uint16_t type, uint16_t flags, const Bytes& payload = {}) {
  Bytes b;
  add<uint32_t>(b, len);
  add<uint16_t>(b, type);
  add<uint16_t>(b, flags);
  add<uint32_t>(b, 7);     // seq
  add<uint32_t>(b, 4242);  // port id
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes msg(uint16_t type, uint16_t flags, const Bytes& payload, bool pad = true) {
  Bytes b = rawMsg(static_cast<uint32_t>(NLMSG_HDRLEN + payload.size()), type, flags, payload);
  if (pad) b.resize(NLMSG_ALIGN(b.size()), 0);
  return b;
}

// The payload of an NLMSG_ERROR: the error and the echoed request header.
Bytes errPayload(int32_t error, uint32_t echoedLen, const Bytes& rest = {}) {
  Bytes b;
  add<int32_t>(b, error);
  b = cat({b, rawMsg(echoedLen, 0x1c, NLM_F_REQUEST | NLM_F_ACK), rest});
  return b;
}

Bytes str(const char* s) { return Bytes(s, s + std::strlen(s) + 1); }

struct Read {
  uint16_t type;
  Bytes payload;
};

// Every attribute of a run, or the ParseError it ends with.
std::vector<Read> readAll(const uint8_t* data, size_t len) {
  std::vector<Read> out;
  nl::AttrIterator it(data, len);
  nl::Attr a;
  while (it.next(a)) out.push_back({a.type(), Bytes(a.data(), a.data() + a.size())});
  return out;
}

// Runs forEachMessage over exact bytes and collects each message's
// (type, nlmsg_len); `fn` may look at each header too.
std::vector<std::pair<uint16_t, uint32_t>> walkMessages(const uint8_t* data, size_t len,
                                                        const std::function<void(const nlmsghdr&)>& fn = {}) {
  std::vector<std::pair<uint16_t, uint32_t>> out;
  nl::forEachMessage(data, len, [&](const nlmsghdr& h) {
    out.emplace_back(h.nlmsg_type, h.nlmsg_len);
    if (fn) fn(h);
    return true;
  });
  return out;
}

// parseAck on the one message in `b`, located by forEachMessage as the client does.
nl::Ack ackOf(const Bytes& b, size_t skew = 0) {
  Exact e(b, skew);
  nl::Ack ack;
  bool seen = false;
  nl::forEachMessage(e.data(), e.size(), [&](const nlmsghdr& h) {
    ack = nl::parseAck(h);
    seen = true;
    return false;
  });
  if (!seen) throw std::logic_error("no message");
  return ack;
}

// --- attribute iterator --------------------------------------------------------

void testIteratorBounds() {
  // Nothing at all: no attributes, no reads (a zero-size block traps any read).
  {
    Exact e(Bytes{});
    CHECK_EQ(readAll(e.data(), e.size()).size(), 0u);
    CHECK_EQ(readAll(nullptr, 0).size(), 0u);
    nl::AttrTable<4> tb(e.data(), e.size());
    CHECK(!tb.has(0) && !tb.has(3) && !tb.has(100));
  }
  // Fewer bytes than a header.
  for (size_t n = 1; n < NLA_HDRLEN; ++n) {
    atEverySkew(fill(n, 0x08), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(readAll(d, len), "truncated attribute header");
      CHECK_PARSE_ERROR((nl::AttrTable<4>(d, len)), "truncated attribute header");
    });
  }
  // A header claiming less than itself (0 would never advance).
  for (uint16_t claimed = 0; claimed < NLA_HDRLEN; ++claimed) {
    atEverySkew(rawAttr(claimed, 3, fill(8)), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(readAll(d, len), "attribute 3 claims");
    });
  }
  // A header claiming more than the buffer: by one byte, and by a lot.
  atEverySkew(rawAttr(13, 2, fill(8)), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(readAll(d, len), "attribute 2 claims 13 bytes, 12 left");
  });
  atEverySkew(rawAttr(0xffff, 2, fill(8)), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(readAll(d, len), "claims 65535 bytes");
  });
  // A good attribute followed by a truncated header, and by an oversized one.
  atEverySkew(cat({attr(1, fill(4, 1)), fill(3)}), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(readAll(d, len), "truncated attribute header: 3 bytes left");
  });
  atEverySkew(cat({attr(1, fill(4, 1)), rawAttr(9, 5, fill(4))}), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(readAll(d, len), "attribute 5 claims 9 bytes, 8 left");
  });
  // A header with no payload is fine.
  atEverySkew(rawAttr(4, 6), [&](const uint8_t* d, size_t len) {
    auto all = readAll(d, len);
    CHECK_EQ(all.size(), 1u);
    if (all.size() == 1) {
      CHECK_EQ(all[0].type, 6);
      CHECK_EQ(all[0].payload.size(), 0u);
    }
  });
  // The last attribute's padding missing entirely, or in part.
  for (size_t payload = 1; payload <= 3; ++payload) {
    for (size_t padKept = 0; padKept < 4 - payload; ++padKept) {
      Bytes last = attr(9, fill(payload, 0x77), false);
      last.resize(last.size() + padKept, 0);
      atEverySkew(cat({attr(1, {1, 2, 3, 4}), last}), [&](const uint8_t* d, size_t len) {
        auto all = readAll(d, len);
        CHECK_EQ(all.size(), 2u);
        if (all.size() == 2) {
          CHECK_EQ(all[1].type, 9);
          CHECK(all[1].payload == fill(payload, 0x77));
        }
      });
    }
  }
  // Flag bits are not part of the type.
  atEverySkew(attr(NLA_F_NESTED | NLA_F_NET_BYTEORDER | 7, fill(4)), [&](const uint8_t* d, size_t len) {
    auto all = readAll(d, len);
    CHECK(all.size() == 1 && all[0].type == 7);
  });
}

void testTable() {
  Bytes b = cat({attr(1, {1}), attr(2, {2, 0}), attr(1, {3}), attr(200, {4}), attr(NLA_F_NESTED | 3, {})});
  atEverySkew(b, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<4> tb(d, len);
    CHECK(tb.has(1) && tb.has(2) && tb.has(3));
    CHECK(!tb.has(0) && !tb.has(4) && !tb.has(200) && tb.get(SIZE_MAX) == nullptr);
    CHECK_EQ(tb.get(1)->u8(), 3);  // the last one wins
    CHECK_EQ(tb.get(3)->size(), 0u);
  });
  // A bad attribute after good ones still fails the whole table.
  atEverySkew(cat({b, rawAttr(40, 1, fill(4))}), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR((nl::AttrTable<4>(d, len)), "attribute 1 claims 40");
  });
}

void testTypedReads() {
  // Right lengths, at every alignment.
  Bytes b = cat({attr(1, {0xab}), attr(2, {0x34, 0x12}), attr(3, {0x78, 0x56, 0x34, 0x12}),
                 attr(4, {8, 7, 6, 5, 4, 3, 2, 1}), attr(5, {0x1f, 0x90}), attr(6, str("wlc")),
                 attr(7, {'a', 'b', 'c'}), attr(8, {'x', 0, 'y'}), attr(9, {})});
  atEverySkew(b, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<10> tb(d, len);
    CHECK_EQ(tb.get(1)->u8(), 0xab);
    uint16_t u16 = 0x1234;
    uint32_t u32 = 0x12345678;
    uint64_t u64 = 0x0102030405060708ULL;
    Bytes u16b(2), u32b(4), u64b(8);
    std::memcpy(u16b.data(), &u16, 2);
    std::memcpy(u32b.data(), &u32, 4);
    std::memcpy(u64b.data(), &u64, 8);
    // Host order on the wire for these; the test bytes above are little-endian.
    if (u16b == Bytes{0x34, 0x12}) {
      CHECK_EQ(tb.get(2)->u16(), 0x1234);
      CHECK_EQ(tb.get(3)->u32(), 0x12345678u);
      CHECK_EQ(tb.get(4)->u64(), 0x0102030405060708ULL);
    }
    CHECK_EQ(tb.get(5)->be16(), 8080);
    CHECK_EQ(tb.get(6)->str(), std::string("wlc"));
    CHECK_EQ(tb.get(7)->str(), std::string("abc"));  // no NUL: the whole payload
    CHECK_EQ(tb.get(8)->str(), std::string("x"));    // up to the first NUL
    CHECK_EQ(tb.get(9)->str(), std::string());
  });
  // Wrong lengths: ParseError naming the attribute, the width and the size.
  struct Case {
    size_t size;
    const char* needle;
    std::function<void(const nl::Attr&)> read;
  };
  const Case cases[] = {
      {0, "attribute 7: expected 1 bytes for u8, got 0", [](const nl::Attr& a) { a.u8(); }},
      {2, "attribute 7: expected 1 bytes for u8, got 2", [](const nl::Attr& a) { a.u8(); }},
      {1, "attribute 7: expected 2 bytes for u16, got 1", [](const nl::Attr& a) { a.u16(); }},
      {3, "attribute 7: expected 2 bytes for u16, got 3", [](const nl::Attr& a) { a.u16(); }},
      {4, "attribute 7: expected 2 bytes for u16, got 4", [](const nl::Attr& a) { a.u16(); }},
      {0, "attribute 7: expected 4 bytes for u32, got 0", [](const nl::Attr& a) { a.u32(); }},
      {3, "attribute 7: expected 4 bytes for u32, got 3", [](const nl::Attr& a) { a.u32(); }},
      {5, "attribute 7: expected 4 bytes for u32, got 5", [](const nl::Attr& a) { a.u32(); }},
      {8, "attribute 7: expected 4 bytes for u32, got 8", [](const nl::Attr& a) { a.u32(); }},
      {4, "attribute 7: expected 8 bytes for u64, got 4", [](const nl::Attr& a) { a.u64(); }},
      {7, "attribute 7: expected 8 bytes for u64, got 7", [](const nl::Attr& a) { a.u64(); }},
      {9, "attribute 7: expected 8 bytes for u64, got 9", [](const nl::Attr& a) { a.u64(); }},
      {1, "attribute 7: expected 2 bytes for u16, got 1", [](const nl::Attr& a) { a.be16(); }},
      {4, "attribute 7: expected 2 bytes for u16, got 4", [](const nl::Attr& a) { a.be16(); }},
  };
  for (const Case& c : cases) {
    // Nested flag set: the number in the message is still the bare type.
    atEverySkew(attr(NLA_F_NESTED | 7, fill(c.size, 0xee), false), [&](const uint8_t* d, size_t len) {
      nl::AttrTable<8> tb(d, len);
      CHECK_PARSE_ERROR(c.read(*tb.get(7)), c.needle);
    });
  }
}

void testNested() {
  // Outer attribute 1 holds 8 bytes, but the inner header claims 12: the bytes
  // after the outer attribute exist (a sibling), so only a nested iterator that
  // respects the outer bound catches it.
  Bytes inner = rawAttr(12, 2, {1, 2, 3, 4});
  Bytes b = cat({attr(NLA_F_NESTED | 1, inner), attr(3, {9, 9, 9, 9}), attr(4, {1, 2, 3, 4})});
  atEverySkew(b, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<5> tb(d, len);  // the outer run itself is fine
    CHECK(tb.has(1) && tb.has(3) && tb.has(4));
    nl::Attr in;
    CHECK_PARSE_ERROR(nl::AttrIterator(*tb.get(1)).next(in), "attribute 2 claims 12 bytes, 8 left");
  });
  atEverySkew(b, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<5> tb(d, len);
    CHECK_PARSE_ERROR((nl::AttrTable<3>(*tb.get(1))), "attribute 2 claims 12 bytes, 8 left");
  });
  // Inner header cut by the outer length.
  atEverySkew(cat({attr(NLA_F_NESTED | 1, {4, 0}), attr(2, fill(8))}), [&](const uint8_t* d, size_t len) {
    nl::AttrTable<3> tb(d, len);
    CHECK_PARSE_ERROR((nl::AttrTable<3>(*tb.get(1))), "truncated attribute header: 2 bytes left");
  });
  // An outer attribute that ends exactly with its unpadded last inner one.
  Bytes tight = attr(NLA_F_NESTED | 1, cat({attr(5, {1, 2, 3, 4}), attr(6, {7}, false)}), false);
  atEverySkew(tight, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<2> tb(d, len);
    nl::AttrTable<7> in(*tb.get(1));
    CHECK(in.has(5) && in.has(6) && in.get(6)->u8() == 7);
  });
}

// --- writer round trips --------------------------------------------------------

void testWriterRoundTrip() {
  Bytes buf;
  nl::Writer w(buf);
  w.putU8(1, 0xfe);
  w.putU16(2, 0xbeef);
  w.putU32(3, 0xdeadbeef);
  w.putU64(4, 0x0123456789abcdefULL);
  w.putBe16(5, 8080);
  w.putString(6, "");
  w.putString(7, "rr");
  w.putString(8, "sixteen chars!!!");
  size_t outer = w.beginNested(9);
  w.putU32(1, 11);
  size_t inner = w.beginNested(2);
  w.putString(1, "deep");
  w.putU64(2, UINT64_MAX);
  w.endNested(inner);
  w.putBe16(3, 1);
  w.endNested(outer);
  w.put(10, nullptr, 0);
  CHECK_EQ(buf.size() % 4, 0u);
  CHECK_EQ(w.size(), buf.size());

  atEverySkew(buf, [&](const uint8_t* d, size_t len) {
    nl::AttrTable<11> tb(d, len);
    CHECK_EQ(tb.get(1)->u8(), 0xfe);
    CHECK_EQ(tb.get(2)->u16(), 0xbeef);
    CHECK_EQ(tb.get(3)->u32(), 0xdeadbeefu);
    CHECK_EQ(tb.get(4)->u64(), 0x0123456789abcdefULL);
    CHECK_EQ(tb.get(5)->be16(), 8080);
    CHECK(tb.get(5)->data()[0] == 0x1f && tb.get(5)->data()[1] == 0x90);  // big-endian on the wire
    CHECK_EQ(tb.get(6)->size(), 1u);  // just the NUL
    CHECK_EQ(tb.get(6)->str(), std::string());
    CHECK_EQ(tb.get(7)->size(), 3u);
    CHECK_EQ(tb.get(7)->str(), std::string("rr"));
    CHECK_EQ(tb.get(8)->str(), std::string("sixteen chars!!!"));
    CHECK_EQ(tb.get(10)->size(), 0u);
    nl::AttrTable<4> out(*tb.get(9));
    CHECK_EQ(out.get(1)->u32(), 11u);
    CHECK_EQ(out.get(3)->be16(), 1);
    nl::AttrTable<3> in(*out.get(2));
    CHECK_EQ(in.get(1)->str(), std::string("deep"));
    CHECK_EQ(in.get(2)->u64(), UINT64_MAX);
  });
  // The nested flag is on the wire.
  {
    auto all = readAll(buf.data(), buf.size());
    uint16_t rawType = 0;
    size_t at = 0;
    for (const Read& r : all) {
      if (r.type == 9) break;
      at += nl::align(NLA_HDRLEN + r.payload.size());
    }
    std::memcpy(&rawType, buf.data() + at + 2, 2);
    CHECK_EQ(rawType, static_cast<uint16_t>(NLA_F_NESTED | 9));
  }
  // Strings of every length pad correctly.
  for (size_t n = 0; n < 9; ++n) {
    Bytes b;
    nl::Writer sw(b);
    std::string s(n, 'q');
    sw.putString(1, s);
    sw.putU8(2, 42);
    CHECK_EQ(b.size(), nl::align(NLA_HDRLEN + n + 1) + 8);
    atEverySkew(b, [&](const uint8_t* d, size_t len) {
      nl::AttrTable<3> tb(d, len);
      CHECK_EQ(tb.get(1)->str(), s);
      CHECK_EQ(tb.get(2)->u8(), 42);
    });
  }
  // What a 16-bit length cannot say is refused, not truncated.
  {
    Bytes b;
    nl::Writer lw(b);
    std::vector<uint8_t> big(0xffff - NLA_HDRLEN + 1);
    try {
      lw.put(1, big.data(), big.size());
      fail(__FILE__, __LINE__, "put() of 65536 bytes did not throw");
    } catch (const std::length_error&) {
      pass();
    }
    lw.put(1, big.data(), big.size() - 1);  // exactly 65535: fine
    CHECK_EQ(b.size(), nl::align(0xffff));
    b.clear();
    size_t n = lw.beginNested(2);
    lw.put(1, big.data(), big.size() - 8);
    lw.putU32(2, 1);
    try {
      lw.endNested(n);
      fail(__FILE__, __LINE__, "endNested() over 65535 bytes did not throw");
    } catch (const std::length_error&) {
      pass();
    }
  }
}

void testMessagesRoundTrip() {
  Bytes buf;
  nl::Writer w(buf);
  size_t m1 = nl::beginGenl(w, 0x25, IPVS_CMD_GET_INFO, 1, NLM_F_REQUEST | NLM_F_ACK, 100, 4242);
  w.putU32(IPVS_INFO_ATTR_VERSION, 0x010203);
  w.putU32(IPVS_INFO_ATTR_CONN_TAB_SIZE, 4096);
  w.endMessage(m1);
  size_t m2 = nl::beginGenl(w, 0x25, IPVS_CMD_GET_CONFIG, 1, NLM_F_REQUEST, 101, 4242);
  ipvs::putTimeouts(w, {900, 120, 300});
  w.endMessage(m2);
  size_t m3 = w.beginMessage(NLMSG_DONE, NLM_F_MULTI, 102, 4242);
  w.putRaw("\0\0\0", 3);  // padded to 4
  w.endMessage(m3);
  CHECK_EQ(buf.size() % 4, 0u);

  atEverySkew(buf, [&](const uint8_t* d, size_t len) {
    std::vector<uint32_t> seqs;
    ipvs::Info info;
    ipvs::Timeouts t;
    auto msgs = walkMessages(d, len, [&](const nlmsghdr& h) {
      seqs.push_back(h.nlmsg_seq);
      if (h.nlmsg_type != 0x25) return;
      nl::GenlPayload g = nl::genlPayload(h);
      if (g.cmd == IPVS_CMD_GET_INFO) info = ipvs::parseInfo(g.attrs, g.attrsLen);
      if (g.cmd == IPVS_CMD_GET_CONFIG) t = ipvs::parseTimeouts(g.attrs, g.attrsLen);
    });
    CHECK_EQ(msgs.size(), 3u);
    CHECK(seqs == (std::vector<uint32_t>{100, 101, 102}));
    CHECK_EQ(info.version, 0x010203u);
    CHECK_EQ(info.connTableSize, 4096u);
    CHECK(t.tcp == 900 && t.tcpFin == 120 && t.udp == 300);
    if (msgs.size() == 3) CHECK_EQ(msgs[2].second, 20u);
  });
}

// --- forEachMessage ------------------------------------------------------------

void testForEachMessage() {
  {
    Exact e(Bytes{});
    CHECK_EQ(walkMessages(e.data(), e.size()).size(), 0u);
  }
  for (size_t n = 1; n < NLMSG_HDRLEN; ++n) {
    atEverySkew(fill(n, 0x10), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(walkMessages(d, len), "truncated netlink message header");
    });
  }
  // nlmsg_len below the header (0 would never advance) and above the buffer.
  for (uint32_t claimed : {0u, 1u, 4u, 15u}) {
    atEverySkew(rawMsg(claimed, NLMSG_MIN_TYPE, 0, fill(8)), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(walkMessages(d, len), "netlink message claims");
    });
  }
  for (uint32_t claimed : {25u, 4096u, 0x7fffffffu, 0xffffffffu}) {
    atEverySkew(rawMsg(claimed, NLMSG_MIN_TYPE, 0, fill(8)), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(walkMessages(d, len), "bytes, 24 left");
    });
  }
  // A good message then a bad one: the good one is seen first.
  atEverySkew(cat({msg(NLMSG_MIN_TYPE, 0, fill(4)), rawMsg(64, NLMSG_MIN_TYPE + 1, 0)}),
              [&](const uint8_t* d, size_t len) {
                size_t seen = 0;
                CHECK_PARSE_ERROR(walkMessages(d, len, [&](const nlmsghdr&) { ++seen; }), "claims 64 bytes, 16 left");
                CHECK_EQ(seen, 1u);
              });
  // Last message without its padding; a header-only message.
  atEverySkew(cat({msg(NLMSG_MIN_TYPE, 0, {1, 2, 3}, true), msg(NLMSG_MIN_TYPE + 1, 0, {1}, false)}),
              [&](const uint8_t* d, size_t len) {
                auto all = walkMessages(d, len);
                CHECK(all.size() == 2 && all[1].first == NLMSG_MIN_TYPE + 1 && all[1].second == 17);
              });
  atEverySkew(msg(NLMSG_NOOP, 0, {}), [&](const uint8_t* d, size_t len) {
    auto all = walkMessages(d, len);
    CHECK(all.size() == 1 && all[0].second == NLMSG_HDRLEN);
  });
  // Header values read right at every alignment; returning false stops.
  Bytes three = cat({msg(NLMSG_MIN_TYPE, 1, fill(5)), msg(NLMSG_MIN_TYPE + 1, 2, {}), msg(NLMSG_DONE, 3, fill(4))});
  atEverySkew(three, [&](const uint8_t* d, size_t len) {
    std::vector<uint16_t> flags;
    nl::forEachMessage(d, len, [&](const nlmsghdr& h) {
      flags.push_back(h.nlmsg_flags);
      CHECK(h.nlmsg_seq == 7 && h.nlmsg_pid == 4242);
      return h.nlmsg_type != NLMSG_MIN_TYPE + 1;
    });
    CHECK(flags == (std::vector<uint16_t>{1, 2}));
  });
  // An exception from the callback passes through untouched.
  atEverySkew(three, [&](const uint8_t* d, size_t len) {
    try {
      nl::forEachMessage(d, len, [](const nlmsghdr&) -> bool { throw nl::Error(5, "from callback"); });
      fail(__FILE__, __LINE__, "callback exception swallowed");
    } catch (const nl::Error& e) {
      CHECK_EQ(e.error(), 5);
    }
  });
}

// --- genlPayload ---------------------------------------------------------------

void testGenlPayload() {
  for (size_t extra = 0; extra < GENL_HDRLEN; ++extra) {
    atEverySkew(msg(0x25, 0, fill(extra, 3), false), [&](const uint8_t* d, size_t len) {
      CHECK_PARSE_ERROR(walkMessages(d, len, [](const nlmsghdr& h) { nl::genlPayload(h); }),
                        "generic netlink message without its header");
    });
  }
  atEverySkew(msg(0x25, 0, {IPVS_CMD_GET_INFO, 1, 0, 0}), [&](const uint8_t* d, size_t len) {
    walkMessages(d, len, [&](const nlmsghdr& h) {
      nl::GenlPayload g = nl::genlPayload(h);
      CHECK(g.cmd == IPVS_CMD_GET_INFO && g.attrsLen == 0);
    });
  });
  // A header that claims less than itself, handed over directly (not via
  // forEachMessage): refused, not read as a 4 GiB payload.
  for (uint32_t claimed : {0u, 8u, 15u}) {
    Exact e(rawMsg(claimed, 0x25, 0));
    const auto& h = *reinterpret_cast<const nlmsghdr*>(e.data());
    CHECK_PARSE_ERROR(nl::genlPayload(h), nullptr);
    CHECK_PARSE_ERROR(nl::parseAck(h), nullptr);
  }
}

// --- parseAck ------------------------------------------------------------------

void testParseAck() {
  // Plain ACK, capped: the echoed header only.
  CHECK_EQ(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(0, 36))).error, 0);
  CHECK_EQ(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(-EEXIST, 36)), 1).error, EEXIST);
  // Shorter than the error code.
  for (size_t n = 0; n < 4; ++n) {
    for (uint16_t flags : {0, NLM_F_ACK_TLVS, NLM_F_ACK_TLVS | NLM_F_CAPPED}) {
      for (size_t skew = 0; skew < 4; ++skew) {
        CHECK_PARSE_ERROR(ackOf(msg(NLMSG_ERROR, flags, fill(n, 0xff), false), skew), "truncated netlink error");
      }
    }
  }
  // The error code alone, or a cut echoed header: the code is still read, and
  // no TLVs are looked for even when the flags promise them.
  for (size_t keep = 4; keep < 20; ++keep) {
    Bytes p = errPayload(-ENOENT, 36);
    p.resize(keep);
    for (uint16_t flags : {0, NLM_F_ACK_TLVS, NLM_F_ACK_TLVS | NLM_F_CAPPED}) {
      nl::Ack a = ackOf(msg(NLMSG_ERROR, flags, p, false), keep % 4);
      CHECK(a.error == ENOENT && a.extack.empty());
    }
  }
  Bytes text = attr(NLMSGERR_ATTR_MSG, str("Invalid argument: scheduler not found"));
  Bytes offs = attr(NLMSGERR_ATTR_OFFS, {20, 0, 0, 0});
  // Capped with TLVs.
  for (size_t skew = 0; skew < 4; ++skew) {
    nl::Ack a = ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, errPayload(-EINVAL, 36, cat({offs, text}))), skew);
    CHECK_EQ(a.error, EINVAL);
    CHECK_EQ(a.extack, std::string("Invalid argument: scheduler not found"));
  }
  // TLVs present but the flag missing: ignored.
  CHECK(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(-EINVAL, 36, text))).extack.empty());
  // Uncapped: the whole request is echoed (here 13 payload bytes, padded), then the TLVs.
  {
    Bytes echoed = errPayload(-EINVAL, NLMSG_HDRLEN + 13, cat({fill(13, 0xcc), fill(3), text}));
    for (size_t skew = 0; skew < 4; ++skew) {
      nl::Ack a = ackOf(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, echoed), skew);
      CHECK_EQ(a.extack, std::string("Invalid argument: scheduler not found"));
    }
  }
  // Bogus echoed lengths: past the end (no TLVs then), all ones, less than a header.
  for (uint32_t bogus : {NLMSG_HDRLEN + 200u, 0xffffffffu, 0xfffffff0u, 0x80000000u}) {
    for (size_t skew = 0; skew < 4; ++skew) {
      nl::Ack a = ackOf(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, errPayload(-EPERM, bogus, text)), skew);
      CHECK(a.error == EPERM && a.extack.empty());
    }
  }
  for (uint32_t bogus : {0u, 1u, 15u, 16u}) {
    // No echoed payload to skip: the TLVs are read from right after the header.
    nl::Ack a = ackOf(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, errPayload(-EPERM, bogus, text)));
    CHECK_EQ(a.extack, std::string("Invalid argument: scheduler not found"));
  }
  // An echoed length landing inside the TLVs, and malformed TLVs: ParseError.
  for (uint32_t skip = 1; skip < 12; ++skip) {
    try {
      ackOf(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, errPayload(-EPERM, NLMSG_HDRLEN + skip, cat({offs, text}))));
      pass();
    } catch (const nl::ParseError&) {
      pass();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("echoed length into the TLVs: ") + e.what());
    }
  }
  CHECK_PARSE_ERROR(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, errPayload(-EPERM, 36, rawAttr(200, 1, fill(8))))),
                    "attribute 1 claims 200");
  CHECK_PARSE_ERROR(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, errPayload(-EPERM, 36, fill(2)))),
                    "truncated attribute header");
  // Extended-ACK text without a NUL, and cut by the end of the message.
  {
    Bytes noNul = attr(NLMSGERR_ATTR_MSG, {'b', 'a', 'd'}, false);
    nl::Ack a = ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, errPayload(-EPERM, 36, noNul), false), 3);
    CHECK_EQ(a.extack, std::string("bad"));
  }
  // Error codes no kernel sends: -INT_MIN does not exist, positives are not errors.
  for (int32_t code : {INT_MIN, INT_MIN + 1, -4096, 1, 22, INT_MAX}) {
    CHECK_PARSE_ERROR(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(code, 36))), "error code");
  }
  CHECK_EQ(ackOf(msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(-4095, 36))).error, 4095);
}

// --- IPVS codec ------------------------------------------------------------------

// A service attribute (IPVS_CMD_ATTR_SERVICE) around the given inner attributes.
nl::Attr outer(const Exact& e) {
  nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(e.data(), e.size());
  for (uint16_t t = 1; t <= IPVS_CMD_ATTR_MAX; ++t) {
    if (tb.has(t)) return *tb.get(t);
  }
  throw std::logic_error("no command attribute");
}

Bytes nested(uint16_t type, std::initializer_list<Bytes> inner) { return attr(NLA_F_NESTED | type, cat(inner)); }

Bytes statsNest(uint16_t type, bool wide, uint64_t base) {
  Bytes in;
  for (uint16_t t = IPVS_STATS_ATTR_CONNS; t <= IPVS_STATS_ATTR_OUTBPS; ++t) {
    uint64_t v = base + t;
    bool bytes = t == IPVS_STATS_ATTR_INBYTES || t == IPVS_STATS_ATTR_OUTBYTES;
    if (wide || bytes) {
      Bytes p(8);
      std::memcpy(p.data(), &v, 8);
      in = cat({in, attr(t, p)});
    } else {
      uint32_t v32 = static_cast<uint32_t>(v);
      Bytes p(4);
      std::memcpy(p.data(), &v32, 4);
      in = cat({in, attr(t, p)});
    }
  }
  return attr(NLA_F_NESTED | type, in);
}

template <typename T>
Bytes le(T v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

// `nest` is one nested attribute; appends `extra` inside it, fixing its length.
Bytes appendToNest(Bytes nest, const Bytes& extra) {
  uint16_t len;
  std::memcpy(&len, nest.data(), 2);
  nest.insert(nest.end(), extra.begin(), extra.end());
  len = static_cast<uint16_t>(len + extra.size());
  std::memcpy(nest.data(), &len, 2);
  return nest;
}

void testIpvsRoundTrip() {
  // Services: IPv4 TCP, IPv6 fwmark, with stats.
  ipvs::Service s4;
  s4.family = AF_INET;
  s4.protocol = IPPROTO_TCP;
  CHECK(ipvs::parseAddress(AF_INET, "10.1.2.3", s4.addr));
  s4.port = 443;
  s4.scheduler = "wlc";
  s4.flags = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED;
  s4.timeout = 300;
  s4.netmask = 0xffffff00;
  s4.pe = "sip";
  ipvs::Service s6;
  s6.family = AF_INET6;
  s6.fwmark = 77;
  s6.protocol = IPPROTO_UDP;  // dropped for fwmark services
  s6.scheduler = "mh";
  s6.netmask = 64;
  for (const ipvs::Service* in : {&s4, &s6}) {
    Bytes b;
    nl::Writer w(b);
    ipvs::putService(w, *in, true);
    // Stats inside the nest, as the kernel sends them.
    Bytes withStats = appendToNest(
        b, cat({statsNest(IPVS_SVC_ATTR_STATS, false, 1000), statsNest(IPVS_SVC_ATTR_STATS64, true, 1ULL << 40)}));
    for (size_t skew = 0; skew < 4; ++skew) {
      Exact e(withStats, skew);
      ipvs::Service out = ipvs::parseService(outer(e));
      CHECK_EQ(out.family, in->family);
      CHECK_EQ(out.fwmark, in->fwmark);
      CHECK_EQ(out.protocol, in->fwmark ? 0 : in->protocol);
      CHECK_EQ(out.port, in->fwmark ? 0 : in->port);
      CHECK_EQ(ipvs::formatAddress(out.family, out.addr), ipvs::formatAddress(in->family, in->fwmark ? ipvs::Address{} : in->addr));
      CHECK_EQ(out.scheduler, in->scheduler);
      CHECK_EQ(out.pe, in->pe);
      CHECK_EQ(out.flags, in->flags & ~IP_VS_SVC_F_HASHED);
      CHECK_EQ(out.timeout, in->timeout);
      CHECK_EQ(out.netmask, in->netmask);
      CHECK(out.hasStats);
      CHECK_EQ(out.stats.conns, (1ULL << 40) + IPVS_STATS_ATTR_CONNS);  // STATS64 preferred
      CHECK_EQ(out.stats.outBps, (1ULL << 40) + IPVS_STATS_ATTR_OUTBPS);
    }
    // Key only: no settings, no stats.
    Bytes key;
    nl::Writer kw(key);
    ipvs::putService(kw, *in, false);
    Exact e(key, 1);
    ipvs::Service k = ipvs::parseService(outer(e));
    CHECK(k.scheduler.empty() && k.flags == 0 && !k.hasStats && k.fwmark == in->fwmark);
  }
  // Old kernels: 32-bit STATS only.
  {
    Bytes b = nested(IPVS_CMD_ATTR_SERVICE, {attr(IPVS_SVC_ATTR_AF, le<uint16_t>(AF_INET)),
                                             statsNest(IPVS_SVC_ATTR_STATS, false, 5000)});
    Exact e(b, 2);
    ipvs::Service s = ipvs::parseService(outer(e));
    CHECK(s.hasStats && s.stats.conns == 5001 && s.stats.inBytes == 5004 && s.stats.outBps == 5010);
  }
  // Destinations: with and without ADDR_FAMILY / tunnel attributes.
  ipvs::Destination d;
  d.family = AF_INET6;
  CHECK(ipvs::parseAddress(AF_INET6, "2001:db8::7", d.addr));
  d.port = 8443;
  d.fwdMethod = IP_VS_CONN_F_TUNNEL;
  d.weight = 50;
  d.upperThreshold = 1000;
  d.lowerThreshold = 10;
  d.tunType = IP_VS_CONN_F_TUNNEL_TYPE_GUE;
  d.tunPort = 6080;
  d.tunFlags = IP_VS_TUNNEL_ENCAP_FLAG_CSUM;
  {
    Bytes b;
    nl::Writer w(b);
    ipvs::putDestination(w, d, true);
    for (size_t skew = 0; skew < 4; ++skew) {
      Exact e(b, skew);
      ipvs::Destination out = ipvs::parseDestination(outer(e), AF_INET);
      CHECK_EQ(out.family, AF_INET6);
      CHECK_EQ(ipvs::formatAddress(out.family, out.addr), std::string("2001:db8::7"));
      CHECK_EQ(out.port, 8443);
      CHECK_EQ(out.fwdMethod, static_cast<uint32_t>(IP_VS_CONN_F_TUNNEL));
      CHECK(out.weight == 50 && out.upperThreshold == 1000 && out.lowerThreshold == 10);
      CHECK(out.hasTunnel && out.tunType == IP_VS_CONN_F_TUNNEL_TYPE_GUE && out.tunPort == 6080 &&
            out.tunFlags == IP_VS_TUNNEL_ENCAP_FLAG_CSUM);
      CHECK(!out.hasStats);
    }
    // Before 3.18: no ADDR_FAMILY, a bare 4-byte address; the service's family applies.
    Bytes old = nested(IPVS_CMD_ATTR_DEST, {attr(IPVS_DEST_ATTR_ADDR, {192, 168, 0, 9}),
                                            attr(IPVS_DEST_ATTR_PORT, {0, 80}),
                                            attr(IPVS_DEST_ATTR_ACTIVE_CONNS, le<uint32_t>(3)),
                                            statsNest(IPVS_DEST_ATTR_STATS64, true, 0)});
    Exact e(old, 3);
    ipvs::Destination out = ipvs::parseDestination(outer(e), AF_INET);
    CHECK_EQ(out.family, AF_INET);
    CHECK_EQ(ipvs::formatAddress(out.family, out.addr), std::string("192.168.0.9"));
    CHECK(out.port == 80 && out.activeConns == 3 && !out.hasTunnel && out.hasStats && out.stats.outPps == 8);
  }
  // Daemons.
  {
    ipvs::Daemon dm;
    dm.state = IP_VS_STATE_BACKUP;
    dm.interface = "eth0";
    dm.syncId = 9;
    dm.maxLength = 1400;
    dm.groupFamily = AF_INET6;
    CHECK(ipvs::parseAddress(AF_INET6, "ff02::1:2", dm.group));
    dm.port = 8848;
    dm.ttl = 3;
    Bytes b;
    nl::Writer w(b);
    ipvs::putDaemon(w, dm, true);
    for (size_t skew = 0; skew < 4; ++skew) {
      Exact e(b, skew);
      ipvs::Daemon out = ipvs::parseDaemon(outer(e));
      CHECK(out.state == IP_VS_STATE_BACKUP && out.interface == "eth0" && out.syncId == 9);
      CHECK(out.maxLength == 1400 && out.groupFamily == AF_INET6 && out.port == 8848 && out.ttl == 3);
      CHECK_EQ(ipvs::formatAddress(AF_INET6, out.group), std::string("ff02::1:2"));
    }
    dm.groupFamily = AF_INET;
    CHECK(ipvs::parseAddress(AF_INET, "224.0.0.81", dm.group));
    b.clear();
    ipvs::putDaemon(w, dm, true);
    Exact e(b, 1);
    ipvs::Daemon out = ipvs::parseDaemon(outer(e));
    CHECK(out.groupFamily == AF_INET && ipvs::formatAddress(AF_INET, out.group) == "224.0.0.81");
  }
  // Empty nests and attributes from a newer kernel: defaults, no error.
  {
    Bytes b = nested(IPVS_CMD_ATTR_SERVICE, {attr(IPVS_SVC_ATTR_MAX + 1, fill(3)), attr(0x3ff, fill(40))});
    Exact e(b);
    ipvs::Service s = ipvs::parseService(outer(e));
    CHECK(s.family == AF_INET && s.port == 0 && !s.hasStats);
    Exact empty(Bytes{});
    CHECK_RETURNS(ipvs::parseService(nl::Attr(IPVS_CMD_ATTR_SERVICE, empty.data(), 0)));
    CHECK_RETURNS(ipvs::parseDestination(nl::Attr(IPVS_CMD_ATTR_DEST, empty.data(), 0), AF_INET));
    CHECK_RETURNS(ipvs::parseDaemon(nl::Attr(IPVS_CMD_ATTR_DAEMON, empty.data(), 0)));
    CHECK_RETURNS(ipvs::parseInfo(empty.data(), 0));
    CHECK_RETURNS(ipvs::parseTimeouts(empty.data(), 0));
  }
}

void testIpvsGarbage() {
  struct Case {
    const char* what;
    uint16_t outerType;
    Bytes inner;
    const char* needle;
  };
  const Case cases[] = {
      {"service flags of 5 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_FLAGS, fill(5)), "service flags of 5 bytes"},
      {"service flags of 4 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_FLAGS, fill(4)), "service flags of 4 bytes"},
      {"service address of 7 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_ADDR, fill(7)), "address attribute of 7 bytes"},
      {"service address of 0 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_ADDR, {}), "address attribute of 0 bytes"},
      {"service address of 17 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_ADDR, fill(17)), "address attribute of 17 bytes"},
      {"service family of 3 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_AF, fill(3)), "attribute 1: expected 2 bytes"},
      {"service port of 1 byte", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_PORT, fill(1)), "attribute 4: expected 2 bytes"},
      {"service fwmark of 2 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_FWMARK, fill(2)), "attribute 5: expected 4 bytes"},
      {"service netmask of 8 bytes", IPVS_CMD_ATTR_SERVICE, attr(IPVS_SVC_ATTR_NETMASK, fill(8)), "attribute 9: expected 4 bytes"},
      {"service STATS64 with a u32", IPVS_CMD_ATTR_SERVICE,
       attr(NLA_F_NESTED | IPVS_SVC_ATTR_STATS64, attr(IPVS_STATS_ATTR_CONNS, fill(4))), "attribute 1: expected 8 bytes"},
      {"service STATS with a u64 rate", IPVS_CMD_ATTR_SERVICE,
       attr(NLA_F_NESTED | IPVS_SVC_ATTR_STATS, attr(IPVS_STATS_ATTR_CPS, fill(8))), "attribute 6: expected 4 bytes"},
      {"service STATS64 truncated inside", IPVS_CMD_ATTR_SERVICE,
       attr(NLA_F_NESTED | IPVS_SVC_ATTR_STATS64, rawAttr(12, IPVS_STATS_ATTR_CONNS, fill(4))), "attribute 1 claims 12"},
      {"destination address of 7 bytes", IPVS_CMD_ATTR_DEST, attr(IPVS_DEST_ATTR_ADDR, fill(7)), "address attribute of 7 bytes"},
      {"destination tunnel type of 2 bytes", IPVS_CMD_ATTR_DEST, attr(IPVS_DEST_ATTR_TUN_TYPE, fill(2)),
       "attribute 13: expected 1 bytes for u8"},
      {"destination weight of 3 bytes", IPVS_CMD_ATTR_DEST, attr(IPVS_DEST_ATTR_WEIGHT, fill(3)), "attribute 4: expected 4"},
      {"destination family of 4 bytes", IPVS_CMD_ATTR_DEST, attr(IPVS_DEST_ATTR_ADDR_FAMILY, fill(4)), "attribute 11: expected 2"},
      {"destination stats with a short header", IPVS_CMD_ATTR_DEST, attr(NLA_F_NESTED | IPVS_DEST_ATTR_STATS, fill(3)),
       "truncated attribute header"},
      {"daemon IPv4 group of 5 bytes", IPVS_CMD_ATTR_DAEMON, attr(IPVS_DAEMON_ATTR_MCAST_GROUP, fill(5)),
       "IPv4 multicast group of 5 bytes"},
      {"daemon IPv6 group of 4 bytes", IPVS_CMD_ATTR_DAEMON, attr(IPVS_DAEMON_ATTR_MCAST_GROUP6, fill(4)),
       "IPv6 multicast group of 4 bytes"},
      {"daemon ttl of 4 bytes", IPVS_CMD_ATTR_DAEMON, attr(IPVS_DAEMON_ATTR_MCAST_TTL, fill(4)), "attribute 8: expected 1"},
      {"daemon state of 1 byte", IPVS_CMD_ATTR_DAEMON, attr(IPVS_DAEMON_ATTR_STATE, fill(1)), "attribute 1: expected 4"},
      {"daemon maxlen of 4 bytes", IPVS_CMD_ATTR_DAEMON, attr(IPVS_DAEMON_ATTR_SYNC_MAXLEN, fill(4)), "attribute 4: expected 2"},
  };
  for (const Case& c : cases) {
    for (size_t skew = 0; skew < 4; ++skew) {
      Exact e(attr(NLA_F_NESTED | c.outerType, c.inner), skew);
      nl::Attr a = outer(e);
      switch (c.outerType) {
        case IPVS_CMD_ATTR_SERVICE:
          CHECK_PARSE_ERROR(ipvs::parseService(a), c.needle);
          break;
        case IPVS_CMD_ATTR_DEST:
          CHECK_PARSE_ERROR(ipvs::parseDestination(a, AF_INET), c.needle);
          break;
        default:
          CHECK_PARSE_ERROR(ipvs::parseDaemon(a), c.needle);
      }
    }
  }
  atEverySkew(attr(IPVS_CMD_ATTR_TIMEOUT_TCP, fill(2)), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(ipvs::parseTimeouts(d, len), "attribute 4: expected 4 bytes for u32, got 2");
  });
  atEverySkew(attr(IPVS_INFO_ATTR_VERSION, fill(8)), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(ipvs::parseInfo(d, len), "attribute 1: expected 4 bytes for u32, got 8");
  });
  atEverySkew(fill(3), [&](const uint8_t* d, size_t len) {
    CHECK_PARSE_ERROR(ipvs::parseInfo(d, len), "truncated attribute header");
    CHECK_PARSE_ERROR(ipvs::parseTimeouts(d, len), "truncated attribute header");
    CHECK_PARSE_ERROR(ipvs::parseService(nl::Attr(1, d, len)), "truncated attribute header");
  });
}

// --- random mutations ------------------------------------------------------------

// Valid datagrams as the kernel sends them: the mutation seeds.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  auto genl = [](uint8_t cmd, uint16_t flags, const Bytes& attrs) {
    return msg(0x25, flags, cat({Bytes{cmd, IPVS_GENL_VERSION, 0, 0}, attrs}));
  };
  ipvs::Service s;
  s.protocol = IPPROTO_TCP;
  ipvs::parseAddress(AF_INET, "10.0.0.1", s.addr);
  s.port = 80;
  s.scheduler = "rr";
  s.pe = "sip";
  s.netmask = 0xffffffff;
  Bytes svc;
  {
    nl::Writer w(svc);
    ipvs::putService(w, s, true);
  }
  // Stats inside the service nest, as dumps carry them.
  svc = appendToNest(svc, cat({statsNest(IPVS_SVC_ATTR_STATS, false, 10), statsNest(IPVS_SVC_ATTR_STATS64, true, 20)}));

  ipvs::Destination d;
  d.family = AF_INET6;
  ipvs::parseAddress(AF_INET6, "fd00::5", d.addr);
  d.port = 8080;
  Bytes dst;
  {
    nl::Writer w(dst);
    ipvs::putDestination(w, d, true);
  }
  Bytes dst2 = appendToNest(dst, statsNest(IPVS_DEST_ATTR_STATS64, true, 1));
  ipvs::Daemon dm;
  dm.interface = "eth1";
  dm.maxLength = 1200;
  dm.groupFamily = AF_INET;
  dm.port = 8848;
  dm.ttl = 1;
  Bytes dmn;
  {
    nl::Writer w(dmn);
    ipvs::putDaemon(w, dm, true);
  }
  Bytes info = cat({attr(IPVS_INFO_ATTR_VERSION, le<uint32_t>(0x010205)), attr(IPVS_INFO_ATTR_CONN_TAB_SIZE, le<uint32_t>(4096))});
  Bytes tmo;
  {
    nl::Writer w(tmo);
    ipvs::putTimeouts(w, {900, 120, 300});
  }
  Bytes done = msg(NLMSG_DONE, NLM_F_MULTI, le<int32_t>(0));
  Bytes extack = cat({attr(NLMSGERR_ATTR_MSG, str("Destination already exists")), attr(NLMSGERR_ATTR_OFFS, le<uint32_t>(40))});

  out.push_back(cat({genl(IPVS_CMD_NEW_SERVICE, NLM_F_MULTI, svc), genl(IPVS_CMD_NEW_SERVICE, NLM_F_MULTI, svc), done}));
  out.push_back(cat({genl(IPVS_CMD_NEW_DEST, NLM_F_MULTI, dst), genl(IPVS_CMD_NEW_DEST, NLM_F_MULTI, dst2), done}));
  out.push_back(genl(IPVS_CMD_NEW_DAEMON, NLM_F_MULTI, dmn));
  out.push_back(cat({genl(IPVS_CMD_SET_INFO, 0, info), msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(0, 36))}));
  out.push_back(genl(IPVS_CMD_SET_CONFIG, 0, tmo));
  out.push_back(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, errPayload(-EEXIST, 60, extack)));
  out.push_back(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, errPayload(-EINVAL, NLMSG_HDRLEN + 8, cat({fill(8, 0x42), extack}))));
  out.push_back(cat({msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(0, 36)), msg(NLMSG_ERROR, NLM_F_CAPPED, errPayload(-ESRCH, 36))}));
  // Bare attribute runs too (parseEverything also reads the bytes as one).
  out.push_back(cat({svc, dst, dmn}));
  out.push_back(cat({info, tmo}));
  return out;
}

uint32_t pick(std::mt19937& rng, uint32_t n) { return n ? rng() % n : 0; }

// One to four random edits: bit flips, bytes, interesting 16/32-bit values at
// header-like offsets, truncation, insertion, deletion, duplication.
Bytes mutate(Bytes b, std::mt19937& rng) {
  static const uint16_t k16[] = {0, 1, 3, 4, 5, 7, 8, 15, 16, 17, 20, 0x7fff, 0x8000, 0xfffc, 0xffff};
  static const uint32_t k32[] = {0,          1,          3,          4,          15,         16,
                                 17,         19,         20,         36,         0x7fffffff, 0x80000000,
                                 0xffffffff, 0xfffffff0, 0xfffff001, 0xffffffea, 0x00010000};
  int edits = 1 + static_cast<int>(pick(rng, 4));
  for (int i = 0; i < edits; ++i) {
    uint32_t size = static_cast<uint32_t>(b.size());
    switch (pick(rng, 9)) {
      case 0:
        if (size) b[pick(rng, size)] ^= static_cast<uint8_t>(1u << pick(rng, 8));
        break;
      case 1:
        if (size) b[pick(rng, size)] = static_cast<uint8_t>(rng());
        break;
      case 2:
      case 3:
        if (size >= 2) {
          // Mostly at 4-byte boundaries, where nla_len / nla_type live.
          uint32_t at = pick(rng, 2) ? pick(rng, size / 4) * 4 + 2 * pick(rng, 2) : pick(rng, size - 1);
          if (at + 2 > size) at = size - 2;
          uint16_t v = pick(rng, 3) ? k16[pick(rng, sizeof k16 / sizeof *k16)] : static_cast<uint16_t>(rng());
          std::memcpy(b.data() + at, &v, 2);
        }
        break;
      case 4:
        if (size >= 4) {
          uint32_t at = pick(rng, 2) ? pick(rng, size / 4) * 4 : pick(rng, size - 3);
          if (at + 4 > size) at = size - 4;
          uint32_t v = pick(rng, 3) ? k32[pick(rng, sizeof k32 / sizeof *k32)] : static_cast<uint32_t>(rng());
          std::memcpy(b.data() + at, &v, 4);
        }
        break;
      case 5:
        b.resize(pick(rng, size + 1));
        break;
      case 6: {
        uint32_t at = pick(rng, size + 1);
        uint32_t n = 1 + pick(rng, 8);
        Bytes ins(n);
        for (auto& x : ins) x = static_cast<uint8_t>(rng());
        b.insert(b.begin() + at, ins.begin(), ins.end());
        break;
      }
      case 7:
        if (size) {
          uint32_t at = pick(rng, size);
          uint32_t n = 1 + pick(rng, size - at);
          b.erase(b.begin() + at, b.begin() + at + n);
        }
        break;
      default:
        if (size) {
          uint32_t at = pick(rng, size);
          uint32_t n = 1 + pick(rng, size - at);
          Bytes dup(b.begin() + at, b.begin() + at + n);
          b.insert(b.begin() + pick(rng, size + 1), dup.begin(), dup.end());
        }
    }
  }
  return b;
}

void testMutations(long iterations, uint32_t seed) {
  std::vector<Bytes> corpus = seeds();
  // The seeds themselves parse cleanly (else mutating them proves little).
  for (const Bytes& s : corpus) {
    Exact e(s);
    harness::Outcome o = harness::parseEverything(e.data(), e.size());
    CHECK(o.accepted > 0);
  }
  std::mt19937 rng(seed);
  size_t accepted = 0, rejected = 0, bad = 0;
  for (long i = 0; i < iterations; ++i) {
    const Bytes& base = corpus[pick(rng, static_cast<uint32_t>(corpus.size()))];
    Bytes m = mutate(base, rng);
    Exact e(m, pick(rng, 4));
    try {
      harness::Outcome o = harness::parseEverything(e.data(), e.size());
      accepted += o.accepted;
      rejected += o.rejected;
      pass();
    } catch (const std::exception& ex) {
      if (++bad <= 10) {
        fail(__FILE__, __LINE__, "mutation " + std::to_string(i) + " (seed " + std::to_string(seed) +
                                     "): a non-ParseError escaped: " + ex.what());
      } else {
        ++failed;
      }
    }
  }
  // Both outcomes happen, so the mutations reach past the first check.
  CHECK(accepted > static_cast<size_t>(iterations));
  CHECK(rejected > static_cast<size_t>(iterations) / 10);
  std::printf("mutations: %ld inputs, %zu parser calls returned, %zu threw ParseError\n", iterations, accepted,
              rejected);
}

int writeCorpus(const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  std::vector<Bytes> corpus = seeds();
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::string path = dir + "/seed-" + std::to_string(i);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(corpus[i].data(), 1, corpus[i].size(), f) != corpus[i].size()) {
      std::perror(path.c_str());
      return 1;
    }
    std::fclose(f);
  }
  std::printf("wrote %zu seeds to %s\n", corpus.size(), dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  uint32_t seed = 20240601;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--write-corpus" && i + 1 < argc) {
      return writeCorpus(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--iterations N] [--seed S] [--only GROUP] [--write-corpus DIR]\n", argv[0]);
      return 2;
    }
  }
  // Line-buffered so the progress before a sanitizer abort reaches a pipe.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto start = std::chrono::steady_clock::now();
  struct Group {
    const char* name;
    std::function<void()> run;
  };
  const Group groups[] = {
      {"attribute iterator bounds", testIteratorBounds},
      {"attribute table", testTable},
      {"typed reads", testTypedReads},
      {"nested attributes", testNested},
      {"writer round trip", testWriterRoundTrip},
      {"message round trip", testMessagesRoundTrip},
      {"forEachMessage", testForEachMessage},
      {"genlPayload", testGenlPayload},
      {"parseAck", testParseAck},
      {"IPVS codec round trip", testIpvsRoundTrip},
      {"IPVS parsers on garbage", testIpvsGarbage},
      {"random mutations", [&] { testMutations(iterations, seed); }},
  };
  for (const Group& g : groups) {
    if (!only.empty() && std::string(g.name).find(only) == std::string::npos) continue;
    int before = passed + failed;
    int failedBefore = failed;
    try {
      g.run();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string(g.name) + ": unexpected exception: " + e.what());
    }
    std::printf("%-28s %5d checks%s\n", g.name, passed + failed - before, failed > failedBefore ? "  FAILED" : "");
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("nl_selftest: %.0f ms\n", ms);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
