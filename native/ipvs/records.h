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

// Decodes record `index` of `data` into `out`; `names` resolves the name
// indexes. Throws std::invalid_argument naming the record and word on an
// impossible value.
void decode(const uint8_t* data, size_t index, const std::vector<std::string>& names, ipvs::Mutation& out);

// Request records copied off the JS side's scratch buffer, checked on the JS
// thread and decoded one at a time while being sent: a decoded command is
// 448 bytes, four times its record, and a whole chunk of them decoded at once
// was half a megabyte of fresh memory per call.
class Requests {
 public:
  // Copies `count` records and their names; throws std::invalid_argument on
  // the first record that does not decode.
  Requests(const uint8_t* data, size_t count, std::vector<std::string> names);
  size_t size() const { return count_; }
  // True when a record is a GET_SERVICE: a key for a read, never a mutation.
  bool hasRead() const { return hasRead_; }
  // The command of record `i`, decoded into `scratch`.
  const ipvs::Mutation& at(size_t i, ipvs::Mutation& scratch) const;

 private:
  std::vector<uint8_t> bytes_;
  size_t count_;
  std::vector<std::string> names_;
  bool hasRead_ = false;
};

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

// Frees memory a ReplyWriter released.
void freeReplyMemory(uint8_t* data, size_t capacity);

// Collects reply records and the names (schedulers, engines) they index.
//
// Records go into the caller's buffer while it has room (the JS side hands
// back the previous reply's buffer), then into zeroed memory of our own. In
// User-Mode Linux every page a process touches for the first time costs a
// trap into the kernel; a table read every second should touch none.
class ReplyWriter : public ipvs::SnapshotSink {
 public:
  // `reuse`/`capacity`: memory the caller keeps alive and does not touch until
  // the reply is read; may be null.
  explicit ReplyWriter(uint8_t* reuse = nullptr, size_t capacity = 0) : data_(reuse), capacity_(capacity) {}
  ~ReplyWriter() override;
  ReplyWriter(const ReplyWriter&) = delete;
  ReplyWriter& operator=(const ReplyWriter&) = delete;

  // SnapshotSink: a service record counts the destination records after it.
  void service(const ipvs::Service& s) override;
  void destination(const ipvs::Destination& d) override;
  void discardDestinations() override;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // True while every record sits in the caller's buffer.
  bool inCallerBuffer() const { return !owned_; }
  // Hands our own memory (`capacity()` bytes, zeroed past `size()`; give it
  // back with freeReplyMemory) to the caller; null when the records sit in
  // the caller's buffer. Read capacity() first.
  uint8_t* release();
  const std::vector<std::string>& names() const { return names_; }

 private:
  uint8_t* start();
  void grow(size_t atLeast);
  uint32_t name(const std::string& n);

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool owned_ = false;
  size_t current_ = SIZE_MAX;  // offset of the last service record, if any
  std::vector<std::string> names_;
};

}  // namespace records
