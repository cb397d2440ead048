// nl_fuzz: libFuzzer target. The input is one received datagram; it goes to
// forEachMessage -> parseAck / genlPayload -> every IPVS parser, and is also
// read as a bare attribute run (fuzz/harness.h). Build and run: docs/fuzzing.md.
//
// A ParseError is the expected answer to garbage; any other exception escapes
// and libFuzzer reports it, as ASan/UBSan report any out-of-bounds read or UB.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  harness::parseEverything(data, size);
  // Again from an odd address, in a block that still ends with the input.
  std::unique_ptr<uint8_t[]> block(new uint8_t[size + 1]);
  if (size) std::memcpy(block.get() + 1, data, size);
  harness::parseEverything(block.get() + 1, size);
  return 0;
}
