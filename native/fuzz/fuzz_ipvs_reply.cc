// fuzz_ipvs_reply: libFuzzer target for the IPVS reply parsers. The input is
// one received datagram; it goes to forEachMessage -> parseAck / genlPayload
// -> every IPVS parser, and is also read as a bare attribute run
// (fuzz/harness.h, shared with nl_selftest's random mutations).
//
// A ParseError is the expected answer to garbage; any other exception escapes
// and libFuzzer reports it, as ASan/UBSan report any out-of-bounds read or UB.
// Seeds: test/fuzz/corpus/fuzz_ipvs_reply (real replies, scripts/fuzz-corpus.mjs).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  harness::parseEverything(data, size);
  // Again from an odd address, in a block that still ends with the input:
  // nothing may assume the alignment a receive buffer has.
  std::unique_ptr<uint8_t[]> block(new uint8_t[size + 1]);
  if (size) std::memcpy(block.get() + 1, data, size);
  harness::parseEverything(block.get() + 1, size);
  return 0;
}
