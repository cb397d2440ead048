#include "ipvs/records.h"

#include <linux/ip_vs.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace records {

namespace {

struct Reader {
  const uint8_t* base;
  size_t index;
  const std::vector<std::string>& names;

  uint32_t word(size_t w) const {
    uint32_t v;
    std::memcpy(&v, base + w * 4, 4);
    return v;
  }
  void bytes(size_t w, uint8_t (&out)[16]) const { std::memcpy(out, base + w * 4, 16); }
  [[noreturn]] void bad(const char* what, uint32_t v) const {
    throw std::invalid_argument("record " + std::to_string(index) + ": " + what + " " + std::to_string(v));
  }
  uint16_t family(size_t w) const {
    uint32_t f = word(w);
    if (f != AF_INET && f != AF_INET6) bad("bad address family", f);
    return static_cast<uint16_t>(f);
  }
  uint16_t u16(size_t w, const char* what) const {
    uint32_t v = word(w);
    if (v > 0xffff) bad(what, v);
    return static_cast<uint16_t>(v);
  }
  std::string name(size_t w) const {
    uint32_t i = word(w);
    if (i == kNoName) return {};
    if (i >= names.size()) bad("name index out of range", i);
    return names[i];
  }
};

bool hasDestination(uint8_t cmd) {
  return cmd == IPVS_CMD_NEW_DEST || cmd == IPVS_CMD_SET_DEST || cmd == IPVS_CMD_DEL_DEST;
}

}  // namespace

void decode(const uint8_t* data, size_t index, const std::vector<std::string>& names, ipvs::Mutation& m) {
  m = ipvs::Mutation{};
  Reader r{data + index * kBytes, index, names};
  uint32_t cmd = r.word(kCmd);
  switch (cmd) {
    case IPVS_CMD_NEW_SERVICE:
    case IPVS_CMD_SET_SERVICE:
    case IPVS_CMD_DEL_SERVICE:
    case IPVS_CMD_NEW_DEST:
    case IPVS_CMD_SET_DEST:
    case IPVS_CMD_DEL_DEST:
    case IPVS_CMD_ZERO:
    case IPVS_CMD_FLUSH:
    case IPVS_CMD_GET_SERVICE:  // a key for getService/listDestinations
      break;
    default:
      r.bad("not a service or destination command:", cmd);
  }
  m.cmd = static_cast<uint8_t>(cmd);
  m.hasService = r.word(kSvcFamily) != 0;
  if (!m.hasService && cmd != IPVS_CMD_FLUSH && cmd != IPVS_CMD_ZERO) r.bad("command without a service:", cmd);
  if (m.hasService) {
    ipvs::Service& s = m.service;
    s.family = r.family(kSvcFamily);
    s.protocol = r.u16(kSvcProtocol, "bad protocol");
    r.bytes(kSvcAddr, s.addr.bytes);
    s.port = r.u16(kSvcPort, "bad port");
    s.fwmark = r.word(kSvcFwmark);
    s.scheduler = r.name(kSvcScheduler);
    s.flags = r.word(kSvcFlags);
    s.timeout = r.word(kSvcTimeout);
    s.netmask = r.word(kSvcNetmask);
    s.pe = r.name(kSvcPe);
  }
  if (hasDestination(m.cmd)) {
    ipvs::Destination& d = m.dest;
    d.family = r.family(kDestFamily);
    r.bytes(kDestAddr, d.addr.bytes);
    d.port = r.u16(kDestPort, "bad destination port");
    d.fwdMethod = r.word(kDestFwd);
    d.weight = r.word(kDestWeight);
    d.upperThreshold = r.word(kDestUpper);
    d.lowerThreshold = r.word(kDestLower);
    d.tunType = static_cast<uint8_t>(r.word(kDestTunType));
    d.tunPort = r.u16(kDestTunPort, "bad tunnel port");
    d.tunFlags = r.u16(kDestTunFlags, "bad tunnel flags");
  }
}

Requests::Requests(const uint8_t* data, size_t count, std::vector<std::string> names)
    : bytes_(data, data + count * kBytes), count_(count), names_(std::move(names)) {
  ipvs::Mutation scratch;
  for (size_t i = 0; i < count_; ++i) {
    decode(bytes_.data(), i, names_, scratch);
    if (scratch.cmd == IPVS_CMD_GET_SERVICE) hasRead_ = true;
  }
}

const ipvs::Mutation& Requests::at(size_t i, ipvs::Mutation& scratch) const {
  decode(bytes_.data(), i, names_, scratch);
  return scratch;
}

namespace {

void put32(uint8_t* rec, size_t word, uint32_t v) { std::memcpy(rec + word * 4, &v, 4); }

void putStats(uint8_t* rec, bool has, const ipvs::Stats& st) {
  put32(rec, kReplyHasStats, has ? 1 : 0);
  const uint64_t values[10] = {st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes,
                               st.cps,   st.inPps,  st.outPps,  st.inBps,   st.outBps};
  std::memcpy(rec + kReplyStats * 4, values, sizeof values);
}

}  // namespace

ReplyWriter::~ReplyWriter() {
  if (owned_) freeReplyMemory(data_, capacity_);
}

void freeReplyMemory(uint8_t* data, size_t capacity) { ::munmap(data, capacity); }

uint8_t* ReplyWriter::release() {
  if (!owned_) return nullptr;
  owned_ = false;
  uint8_t* out = data_;
  data_ = nullptr;
  size_ = capacity_ = 0;
  return out;
}

void ReplyWriter::grow(size_t atLeast) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t capacity = std::max({atLeast, capacity_ * 2, 64 * kReplyBytes});
  capacity = (capacity + page - 1) / page * page;
  // Anonymous mappings come zeroed and untouched until written (nothing
  // uninitialised reaches JS), and mremap() grows one by moving page table
  // entries: the records already written are neither copied nor touched.
  void* bigger = owned_ ? ::mremap(data_, capacity_, capacity, MREMAP_MAYMOVE)
                        : ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (bigger == MAP_FAILED) throw std::bad_alloc();
  if (!owned_ && size_) std::memcpy(bigger, data_, size_);  // out of the caller's buffer
  data_ = static_cast<uint8_t*>(bigger);
  capacity_ = capacity;
  owned_ = true;
}

uint8_t* ReplyWriter::start() {
  if (capacity_ - size_ < kReplyBytes) grow(size_ + kReplyBytes);
  uint8_t* rec = data_ + size_;
  std::memset(rec, 0, kReplyBytes);  // the caller's buffer holds an older reply
  size_ += kReplyBytes;
  return rec;
}

uint32_t ReplyWriter::name(const std::string& n) {
  if (n.empty()) return kNoName;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == n) return static_cast<uint32_t>(i);  // a handful of schedulers: a scan wins
  }
  names_.push_back(n);
  return static_cast<uint32_t>(names_.size() - 1);
}

void ReplyWriter::service(const ipvs::Service& s) {
  current_ = size_;
  uint8_t* rec = start();
  put32(rec, kRsFamily, s.family);
  put32(rec, kRsProtocol, s.protocol);
  std::memcpy(rec + kRsAddr * 4, s.addr.bytes, 16);
  put32(rec, kRsPort, s.port);
  put32(rec, kRsFwmark, s.fwmark);
  put32(rec, kRsScheduler, name(s.scheduler));
  put32(rec, kRsFlags, s.flags);
  put32(rec, kRsTimeout, s.timeout);
  put32(rec, kRsNetmask, s.netmask);
  put32(rec, kRsPe, name(s.pe));
  putStats(rec, s.hasStats, s.stats);
}

void ReplyWriter::destination(const ipvs::Destination& d) {
  uint8_t* rec = start();
  put32(rec, kRdFamily, d.family);
  std::memcpy(rec + kRdAddr * 4, d.addr.bytes, 16);
  put32(rec, kRdPort, d.port);
  put32(rec, kRdFwd, d.fwdMethod);
  put32(rec, kRdWeight, d.weight);
  put32(rec, kRdUpper, d.upperThreshold);
  put32(rec, kRdLower, d.lowerThreshold);
  put32(rec, kRdHasTunnel, d.hasTunnel ? 1 : 0);
  put32(rec, kRdTunType, d.tunType);
  put32(rec, kRdTunPort, d.tunPort);
  put32(rec, kRdTunFlags, d.tunFlags);
  put32(rec, kRdActive, d.activeConns);
  put32(rec, kRdInactive, d.inactConns);
  put32(rec, kRdPersistent, d.persistConns);
  putStats(rec, d.hasStats, d.stats);
  if (current_ != SIZE_MAX) {
    uint8_t* svc = data_ + current_;
    uint32_t count;
    std::memcpy(&count, svc + kRsDestCount * 4, 4);
    put32(svc, kRsDestCount, count + 1);
  }
}

void ReplyWriter::discardDestinations() {
  if (current_ == SIZE_MAX) return;
  size_ = current_ + kReplyBytes;
  put32(data_ + current_, kRsDestCount, 0);
}

}  // namespace records
