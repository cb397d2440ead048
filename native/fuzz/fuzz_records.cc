// fuzz_records: libFuzzer target for native/ipvs/records.cc, the decoder of
// the packed request records lib/wire.ts writes (records::Requests, decode)
// and the reply records it writes back (records::ReplyWriter).
//
// Input: one control byte — bits 0..3 the number of names, bits 4..6 the
// capacity in records of the caller's reply buffer — then each name as a
// length byte and its bytes, then the records (a partial last one is left
// out, as the addon refuses it). Word 27 of a record, unused by the format,
// says (bit 0) to discard the destinations written so far after it.
//
// Contract: Requests either decodes every record or throws
// std::invalid_argument, and then some record fails on its own too; a
// decoded command is one the client can send (a known command, a service
// unless FLUSH/ZERO, IPv4/IPv6 families, names from the list) and its
// netlink encoding (ipvs::putService/putDestination, as Client sends it)
// parses back to the same values; ReplyWriter's records say what was
// written, in the caller's buffer while it fits, then in memory of its own.

#include <linux/ip_vs.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/check.h"
#include "ipvs/codec.h"
#include "ipvs/records.h"
#include "nl/attr.h"

namespace {

constexpr size_t kDiscardWord = 27;
static_assert(kDiscardWord >= records::kDestTunFlags + 1 && kDiscardWord < records::kWords);

uint32_t word(const uint8_t* record, size_t w) {
  uint32_t v;
  std::memcpy(&v, record + w * 4, 4);
  return v;
}

bool carriesDestination(uint8_t cmd) {
  return cmd == IPVS_CMD_NEW_DEST || cmd == IPVS_CMD_SET_DEST || cmd == IPVS_CMD_DEL_DEST;
}

bool knownName(const std::string& n, const std::vector<std::string>& names) {
  if (n.empty()) return true;
  for (const std::string& k : names) {
    if (k == n) return true;
  }
  return false;
}

// What a NUL-terminated string attribute carries of `s`.
std::string uptoNul(const std::string& s) { return s.substr(0, s.find('\0')); }

void checkDecoded(const ipvs::Mutation& m, const uint8_t* record, const std::vector<std::string>& names) {
  FUZZ_CHECK(m.cmd == word(record, records::kCmd));
  FUZZ_CHECK(m.hasService == (word(record, records::kSvcFamily) != 0));
  if (!m.hasService) FUZZ_CHECK(m.cmd == IPVS_CMD_FLUSH || m.cmd == IPVS_CMD_ZERO);
  if (m.hasService) {
    FUZZ_CHECK(m.service.family == AF_INET || m.service.family == AF_INET6);
    FUZZ_CHECK(knownName(m.service.scheduler, names));
    FUZZ_CHECK(knownName(m.service.pe, names));
  }
  if (carriesDestination(m.cmd)) FUZZ_CHECK(m.dest.family == AF_INET || m.dest.family == AF_INET6);
}

// The command encoded as ipvs::Client encodes it, and parsed back.
void checkEncoding(const ipvs::Mutation& m) {
  if (!m.hasService) return;  // FLUSH, or ZERO of everything: no attributes
  const bool fullService = m.cmd == IPVS_CMD_NEW_SERVICE || m.cmd == IPVS_CMD_SET_SERVICE;
  const bool fullDest = m.cmd == IPVS_CMD_NEW_DEST || m.cmd == IPVS_CMD_SET_DEST;
  std::vector<uint8_t> buf;
  nl::Writer w(buf);
  try {
    ipvs::putService(w, m.service, fullService);
    if (carriesDestination(m.cmd)) ipvs::putDestination(w, m.dest, fullDest);
  } catch (const std::length_error&) {
    // Only names that cannot fit a 16-bit attribute length may refuse.
    FUZZ_CHECK(m.service.scheduler.size() + m.service.pe.size() > 0xffff - 200);
    return;
  }
  // Our own encoding must parse: a ParseError here escapes as a finding.
  nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(buf.data(), buf.size());
  const nl::Attr* sa = tb.get(IPVS_CMD_ATTR_SERVICE);
  FUZZ_CHECK(sa != nullptr);
  const ipvs::Service& want = m.service;
  ipvs::Service got = ipvs::parseService(*sa);
  FUZZ_CHECK(got.family == want.family);
  FUZZ_CHECK(got.fwmark == want.fwmark);
  if (want.fwmark == 0) {
    FUZZ_CHECK(got.protocol == want.protocol);
    FUZZ_CHECK(std::memcmp(got.addr.bytes, want.addr.bytes, 16) == 0);
    FUZZ_CHECK(got.port == want.port);
  }
  if (fullService) {
    FUZZ_CHECK(got.scheduler == uptoNul(want.scheduler));
    FUZZ_CHECK(got.pe == uptoNul(want.pe));
    FUZZ_CHECK(got.flags == (want.flags & ~IP_VS_SVC_F_HASHED));
    FUZZ_CHECK(got.timeout == want.timeout);
    FUZZ_CHECK(got.netmask == want.netmask);
  }
  if (!carriesDestination(m.cmd)) return;
  const nl::Attr* da = tb.get(IPVS_CMD_ATTR_DEST);
  FUZZ_CHECK(da != nullptr);
  const ipvs::Destination& wantDest = m.dest;
  ipvs::Destination gotDest = ipvs::parseDestination(*da, got.family);
  FUZZ_CHECK(gotDest.family == wantDest.family);
  FUZZ_CHECK(std::memcmp(gotDest.addr.bytes, wantDest.addr.bytes, 16) == 0);
  FUZZ_CHECK(gotDest.port == wantDest.port);
  FUZZ_CHECK(gotDest.hasTunnel == fullDest);
  if (fullDest) {
    FUZZ_CHECK(gotDest.fwdMethod == (wantDest.fwdMethod & IP_VS_CONN_F_FWD_MASK));
    FUZZ_CHECK(gotDest.weight == wantDest.weight);
    FUZZ_CHECK(gotDest.upperThreshold == wantDest.upperThreshold);
    FUZZ_CHECK(gotDest.lowerThreshold == wantDest.lowerThreshold);
    FUZZ_CHECK(gotDest.tunType == wantDest.tunType);
    FUZZ_CHECK(gotDest.tunPort == wantDest.tunPort);
    FUZZ_CHECK(gotDest.tunFlags == wantDest.tunFlags);
  }
}

// What ReplyWriter should hold: one entry per record.
struct Written {
  bool service;
  ipvs::Service s;
  ipvs::Destination d;
  uint32_t destinations = 0;
};

uint32_t replyWord(const uint8_t* rec, size_t w) { return word(rec, w); }

void checkName(const records::ReplyWriter& writer, uint32_t index, const std::string& want) {
  if (want.empty()) {
    FUZZ_CHECK(index == records::kNoName);
    return;
  }
  FUZZ_CHECK(index < writer.names().size());
  FUZZ_CHECK(writer.names()[index] == want);
}

void checkReply(const records::ReplyWriter& writer, const std::vector<Written>& model) {
  FUZZ_CHECK(writer.size() == model.size() * records::kReplyBytes);
  for (size_t i = 0; i < model.size(); ++i) {
    const uint8_t* rec = writer.data() + i * records::kReplyBytes;
    const Written& m = model[i];
    FUZZ_CHECK(replyWord(rec, records::kReplyHasStats) == 0);
    for (size_t w = records::kReplyStats; w < records::kReplyStats + 20; ++w) FUZZ_CHECK(replyWord(rec, w) == 0);
    if (m.service) {
      FUZZ_CHECK(replyWord(rec, records::kRsDestCount) == m.destinations);
      FUZZ_CHECK(replyWord(rec, records::kRsFamily) == m.s.family);
      FUZZ_CHECK(replyWord(rec, records::kRsProtocol) == m.s.protocol);
      FUZZ_CHECK(std::memcmp(rec + records::kRsAddr * 4, m.s.addr.bytes, 16) == 0);
      FUZZ_CHECK(replyWord(rec, records::kRsPort) == m.s.port);
      FUZZ_CHECK(replyWord(rec, records::kRsFwmark) == m.s.fwmark);
      checkName(writer, replyWord(rec, records::kRsScheduler), m.s.scheduler);
      FUZZ_CHECK(replyWord(rec, records::kRsFlags) == m.s.flags);
      FUZZ_CHECK(replyWord(rec, records::kRsTimeout) == m.s.timeout);
      FUZZ_CHECK(replyWord(rec, records::kRsNetmask) == m.s.netmask);
      checkName(writer, replyWord(rec, records::kRsPe), m.s.pe);
    } else {
      FUZZ_CHECK(replyWord(rec, records::kRdFamily) == m.d.family);
      FUZZ_CHECK(std::memcmp(rec + records::kRdAddr * 4, m.d.addr.bytes, 16) == 0);
      FUZZ_CHECK(replyWord(rec, records::kRdPort) == m.d.port);
      FUZZ_CHECK(replyWord(rec, records::kRdFwd) == m.d.fwdMethod);
      FUZZ_CHECK(replyWord(rec, records::kRdWeight) == m.d.weight);
      FUZZ_CHECK(replyWord(rec, records::kRdUpper) == m.d.upperThreshold);
      FUZZ_CHECK(replyWord(rec, records::kRdLower) == m.d.lowerThreshold);
      FUZZ_CHECK(replyWord(rec, records::kRdHasTunnel) == 0);
      FUZZ_CHECK(replyWord(rec, records::kRdTunType) == m.d.tunType);
      FUZZ_CHECK(replyWord(rec, records::kRdTunPort) == m.d.tunPort);
      FUZZ_CHECK(replyWord(rec, records::kRdTunFlags) == m.d.tunFlags);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t nameCount = data[0] & 0x0f;
  const size_t callerRecords = (data[0] >> 4) & 0x07;
  size_t at = 1;
  std::vector<std::string> names;
  for (size_t i = 0; i < nameCount && at < size; ++i) {
    size_t len = data[at++];
    if (len > size - at) len = size - at;
    names.emplace_back(reinterpret_cast<const char*>(data + at), len);
    at += len;
  }
  const size_t count = (size - at) / records::kBytes;
  // The records in a block of exactly their size: a read past them is an ASan report.
  std::unique_ptr<uint8_t[]> bytes(new uint8_t[count * records::kBytes]);
  if (count) std::memcpy(bytes.get(), data + at, count * records::kBytes);

  std::optional<records::Requests> requests;
  try {
    requests.emplace(bytes.get(), count, names);
  } catch (const std::invalid_argument&) {
    bool someRecordFails = false;
    ipvs::Mutation scratch;
    for (size_t i = 0; i < count && !someRecordFails; ++i) {
      try {
        records::decode(bytes.get(), i, names, scratch);
      } catch (const std::invalid_argument&) {
        someRecordFails = true;
      }
    }
    FUZZ_CHECK(someRecordFails);
    return 0;
  }
  FUZZ_CHECK(requests->size() == count);

  std::vector<uint8_t> callerBuffer(callerRecords * records::kReplyBytes, 0xa5);  // an older reply's bytes
  records::ReplyWriter writer(callerBuffer.empty() ? nullptr : callerBuffer.data(), callerBuffer.size());
  std::vector<Written> model;
  size_t currentService = SIZE_MAX;
  size_t mostRecords = 0;
  bool sawRead = false;
  ipvs::Mutation scratch;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* record = bytes.get() + i * records::kBytes;
    const ipvs::Mutation* m = nullptr;
    try {
      m = &requests->at(i, scratch);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "record %zu decoded at construction, not at(): %s\n", i, e.what());
      std::abort();
    }
    checkDecoded(*m, record, names);
    checkEncoding(*m);
    if (m->cmd == IPVS_CMD_GET_SERVICE) sawRead = true;

    if (m->hasService) {
      writer.service(m->service);
      currentService = model.size();
      model.push_back(Written{true, m->service, {}});
    }
    if (carriesDestination(m->cmd)) {
      writer.destination(m->dest);
      if (currentService != SIZE_MAX) ++model[currentService].destinations;
      model.push_back(Written{false, {}, m->dest});
    }
    if (model.size() > mostRecords) mostRecords = model.size();
    if (word(record, kDiscardWord) & 1) {
      writer.discardDestinations();
      if (currentService != SIZE_MAX) {
        model.resize(currentService + 1);
        model[currentService].destinations = 0;
      }
    }
  }
  FUZZ_CHECK(requests->hasRead() == sawRead);
  checkReply(writer, model);
  FUZZ_CHECK(writer.inCallerBuffer() == (mostRecords <= callerRecords));
  if (!writer.inCallerBuffer()) FUZZ_CHECK(writer.capacity() >= writer.size());
  // The caller takes our memory, and gives it back (addon.cc does the same).
  size_t capacity = writer.capacity();
  if (uint8_t* owned = writer.release()) records::freeReplyMemory(owned, capacity);
  return 0;
}
