// The packed request records that lib/wire.ts writes for service and
// destination commands: fixed-size, all numbers, names by index. Reading
// them costs no N-API call per field, which keeps big batches cheap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipvs/client.h"

namespace records {

// Word offsets (u32, host byte order) inside one record; must match lib/wire.ts.
enum Word : size_t {
  kCmd = 0,
  kSvcFamily = 1,  // 0: the record names no service (FLUSH, ZERO of all)
  kSvcProtocol = 2,
  kSvcAddr = 3,  // 4 words: address bytes in network order
  kSvcPort = 7,
  kSvcFwmark = 8,
  kSvcScheduler = 9,  // index into the names array
  kSvcFlags = 10,
  kSvcTimeout = 11,
  kSvcNetmask = 12,
  kSvcPe = 13,  // index into the names array, or kNoName
  kDestFamily = 14,  // 0: no destination
  kDestAddr = 15,  // 4 words
  kDestPort = 19,
  kDestFwd = 20,
  kDestWeight = 21,
  kDestUpper = 22,
  kDestLower = 23,
  kDestTunType = 24,
  kDestTunPort = 25,
  kDestTunFlags = 26,
  kWords = 28,
};
inline constexpr size_t kBytes = kWords * 4;
inline constexpr uint32_t kNoName = 0xffffffff;

// Decodes `count` records; `names` resolves the name indexes. Throws
// std::invalid_argument naming the record and word on an impossible value.
std::vector<ipvs::Mutation> decode(const uint8_t* data, size_t count, const std::vector<std::string>& names);

// Replies go back the same way: fixed-size records the TypeScript side reads
// straight into the public objects, so no intermediate JS object is built.
// Word offsets of a service reply record; must match lib/wire.ts.
enum ServiceReply : size_t {
  kRsDestCount = 0,  // destination records that follow (snapshot only)
  kRsFamily = 1,
  kRsProtocol = 2,
  kRsAddr = 3,  // 4 words
  kRsPort = 7,
  kRsFwmark = 8,
  kRsScheduler = 9,
  kRsFlags = 10,
  kRsTimeout = 11,
  kRsNetmask = 12,
  kRsPe = 13,
};
// Word offsets of a destination reply record; must match lib/wire.ts.
enum DestinationReply : size_t {
  kRdFamily = 0,
  kRdAddr = 1,  // 4 words
  kRdPort = 5,
  kRdFwd = 6,
  kRdWeight = 7,
  kRdUpper = 8,
  kRdLower = 9,
  kRdHasTunnel = 10,
  kRdTunType = 11,
  kRdTunPort = 12,
  kRdTunFlags = 13,
  kRdActive = 14,
  kRdInactive = 15,
  kRdPersistent = 16,
};
// Both kinds share a size; counters sit at the same 8-byte aligned place:
// conns, inPkts, outPkts, inBytes, outBytes, cps, inPps, outPps, inBps, outBps.
inline constexpr size_t kReplyHasStats = 18;
inline constexpr size_t kReplyStats = 20;  // 10 u64
inline constexpr size_t kReplyWords = 40;
inline constexpr size_t kReplyBytes = kReplyWords * 4;

// Collects reply records and the names (schedulers, engines) they index.
class ReplyWriter {
 public:
  // Makes room for `records` records at once (growing step by step costs a
  // page fault per page again at every doubling).
  void reserve(size_t records) { bytes_.reserve(records * kReplyBytes); }
  void service(const ipvs::Service& s, uint32_t destCount);
  void destination(const ipvs::Destination& d);
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  // Moves the records out; the writer is empty afterwards.
  std::vector<uint8_t> takeBytes() { return std::move(bytes_); }
  const std::vector<std::string>& names() const { return names_; }

 private:
  uint8_t* start();
  uint32_t name(const std::string& n);
  std::vector<uint8_t> bytes_;
  std::vector<std::string> names_;
};

}  // namespace records
