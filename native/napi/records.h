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

}  // namespace records
