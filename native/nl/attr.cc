#include "nl/attr.h"

#include <arpa/inet.h>
#include <linux/netlink.h>

#include <cstring>

namespace nl {

namespace {

void padTo4(std::vector<uint8_t>& buf) { buf.resize(align(buf.size()), 0); }

void storeU16(std::vector<uint8_t>& buf, size_t at, uint16_t v) { std::memcpy(buf.data() + at, &v, 2); }
void storeU32(std::vector<uint8_t>& buf, size_t at, uint32_t v) { std::memcpy(buf.data() + at, &v, 4); }

// An attribute length field is 16 bits; anything longer cannot be encoded.
void checkAttrLen(size_t len) {
  if (len > 0xffff) throw std::length_error("netlink attribute longer than 65535 bytes");
}

}  // namespace

size_t Writer::beginMessage(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portId) {
  padTo4(buf_);
  size_t off = buf_.size();
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = portId;
  const auto* p = reinterpret_cast<const uint8_t*>(&h);
  buf_.insert(buf_.end(), p, p + sizeof h);
  return off;
}

void Writer::endMessage(size_t offset) {
  padTo4(buf_);
  storeU32(buf_, offset, static_cast<uint32_t>(buf_.size() - offset));
}

void Writer::putRaw(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), p, p + len);
  padTo4(buf_);
}

void Writer::put(uint16_t type, const void* data, size_t len) {
  checkAttrLen(NLA_HDRLEN + len);
  nlattr a{};
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  a.nla_type = type;
  // One growth of the buffer per attribute, its padding zeroed with it.
  size_t at = buf_.size();
  buf_.resize(at + align(NLA_HDRLEN + len));
  std::memcpy(buf_.data() + at, &a, sizeof a);
  if (len) std::memcpy(buf_.data() + at + NLA_HDRLEN, data, len);
}

void Writer::putBe16(uint16_t type, uint16_t v) { putU16(type, htons(v)); }

void Writer::putString(uint16_t type, std::string_view s) {
  checkAttrLen(NLA_HDRLEN + s.size() + 1);
  nlattr a{};
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + s.size() + 1);
  a.nla_type = type;
  size_t at = buf_.size();
  buf_.resize(at + align(NLA_HDRLEN + s.size() + 1));  // the NUL and the padding are zeroes
  std::memcpy(buf_.data() + at, &a, sizeof a);
  if (!s.empty()) std::memcpy(buf_.data() + at + NLA_HDRLEN, s.data(), s.size());
}

size_t Writer::beginNested(uint16_t type, bool flagged) {
  size_t off = buf_.size();
  nlattr a{};
  a.nla_type = flagged ? type | NLA_F_NESTED : type;
  const auto* h = reinterpret_cast<const uint8_t*>(&a);
  buf_.insert(buf_.end(), h, h + sizeof a);
  return off;
}

void Writer::endNested(size_t offset) {
  size_t len = buf_.size() - offset;
  checkAttrLen(len);
  storeU16(buf_, offset, static_cast<uint16_t>(len));
}

void Attr::expect(size_t n, const char* what) const {
  if (len_ != n) {
    throw ParseError("attribute " + std::to_string(type_) + ": expected " + std::to_string(n) + " bytes for " +
                     what + ", got " + std::to_string(len_));
  }
}

uint8_t Attr::u8() const {
  expect(1, "u8");
  return data_[0];
}

uint16_t Attr::u16() const {
  expect(2, "u16");
  uint16_t v;
  std::memcpy(&v, data_, 2);
  return v;
}

uint32_t Attr::u32() const {
  expect(4, "u32");
  uint32_t v;
  std::memcpy(&v, data_, 4);
  return v;
}

uint64_t Attr::u64() const {
  expect(8, "u64");
  uint64_t v;
  std::memcpy(&v, data_, 8);
  return v;
}

uint16_t Attr::be16() const { return ntohs(u16()); }

std::string Attr::str() const {
  const void* nul = std::memchr(data_, 0, len_);
  size_t n = nul ? static_cast<size_t>(static_cast<const uint8_t*>(nul) - data_) : len_;
  return std::string(reinterpret_cast<const char*>(data_), n);
}

bool AttrIterator::next(Attr& out) {
  if (left_ == 0) return false;
  if (left_ < NLA_HDRLEN) {
    throw ParseError("truncated attribute header: " + std::to_string(left_) + " bytes left");
  }
  nlattr h;
  std::memcpy(&h, p_, sizeof h);  // the buffer may be unaligned (fuzzers, packed dumps)
  if (h.nla_len < NLA_HDRLEN || h.nla_len > left_) {
    throw ParseError("attribute " + std::to_string(h.nla_type & NLA_TYPE_MASK) + " claims " +
                     std::to_string(h.nla_len) + " bytes, " + std::to_string(left_) + " left");
  }
  out = Attr(h.nla_type & NLA_TYPE_MASK, p_ + NLA_HDRLEN, h.nla_len - NLA_HDRLEN);
  // The last attribute's padding may be missing; never step past the end.
  size_t step = align(h.nla_len);
  if (step > left_) step = left_;
  p_ += step;
  left_ -= step;
  return true;
}

}  // namespace nl
