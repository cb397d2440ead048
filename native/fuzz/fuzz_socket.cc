// fuzz_socket: libFuzzer target for nl::Socket's state machine — request,
// dump (with retries), dumpMany (chained through io_uring, and its plain
// fallback), pipeline — against a scripted peer (fuzz/peer_script.h). Each
// call runs on a fresh socket fed the next group of datagrams of the input;
// then a plain request runs on the same socket over whatever the call left.
//
// Contract: every call returns or throws nl::Error / nl::ParseError, never
// hangs (past its datagrams the client reads end of stream), leaks no
// descriptor, and keeps the promises of nl/socket.h: data handed out carries
// our port id, a data type and the sequence number of the request it answers;
// dumpMany hands messages out in request order and never resets a dump after
// a later one delivered; pipeline returns one ACK per request, errno 0..4095.

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/peer_script.h"
#include "nl/attr.h"
#include "nl/socket.h"

namespace {

using fuzzpeer::kPortId;

constexpr uint16_t kRequestType = NLMSG_MIN_TYPE + 7;
// A data message of this type makes the consumer throw ParseError, as a
// parser does with a malformed reply, in the middle of a dump or a chain.
constexpr uint16_t kRefusedType = 0x7eef;

std::vector<uint8_t> message(uint16_t flags, uint32_t seq) {
  std::vector<uint8_t> msg;
  nl::Writer w(msg);
  size_t off = w.beginMessage(kRequestType, NLM_F_REQUEST | flags, seq, kPortId);
  w.putU32(1, seq);
  w.endMessage(off);
  return msg;
}

void consume(const nlmsghdr& h, uint32_t seq) {
  FUZZ_CHECK(h.nlmsg_pid == kPortId);
  FUZZ_CHECK(h.nlmsg_seq == seq);
  FUZZ_CHECK(h.nlmsg_type >= NLMSG_MIN_TYPE);
  FUZZ_CHECK(h.nlmsg_len >= NLMSG_HDRLEN);
  if (h.nlmsg_type == kRefusedType) throw nl::ParseError("message refused by its consumer");
}

void acknowledged(nl::Socket& s) {
  uint32_t seq = s.nextSeq();
  s.request(message(NLM_F_ACK, seq), seq, [&](const nlmsghdr& h) { consume(h, seq); });
}

void oneDump(nl::Socket& s) {
  uint32_t current = 0;
  s.dump(
      [&](uint32_t seq) {
        current = seq;
        return message(NLM_F_DUMP, seq);
      },
      [&](const nlmsghdr& h) { consume(h, current); }, [] {}, 2);
}

void chainedDumps(nl::Socket& s) {
  constexpr size_t kDumps = 3;
  uint32_t seqOf[kDumps] = {};
  bool delivered = false;
  size_t latest = 0;  // the highest dump that delivered a message
  s.dumpMany(
      kDumps,
      [&](size_t i, uint32_t seq) {
        FUZZ_CHECK(i < kDumps);
        seqOf[i] = seq;
        return message(NLM_F_DUMP, seq);
      },
      [&](size_t i, const nlmsghdr& h) {
        FUZZ_CHECK(i < kDumps);
        FUZZ_CHECK(!delivered || i >= latest);
        delivered = true;
        latest = i;
        consume(h, seqOf[i]);
      },
      [&](size_t i) {
        FUZZ_CHECK(i < kDumps);
        FUZZ_CHECK(!delivered || latest <= i);
      });
}

void pipelined(nl::Socket& s) {
  constexpr size_t kCount = 3;
  uint32_t first = s.reserveSeq(kCount + 1);  // + pipeline()'s barrier
  std::vector<uint8_t> msgs;
  nl::Writer w(msgs);
  for (size_t i = 0; i < kCount; ++i) {
    w.endMessage(w.beginMessage(kRequestType, NLM_F_REQUEST | NLM_F_ACK, first + static_cast<uint32_t>(i), kPortId));
  }
  std::vector<nl::Ack> acks = s.pipeline(msgs, first, kCount);
  FUZZ_CHECK(acks.size() == kCount);
  for (const nl::Ack& a : acks) FUZZ_CHECK(a.error >= 0 && a.error <= 4095);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Call = void (*)(nl::Socket&);
  static const Call kCalls[] = {acknowledged, oneDump, chainedDumps, pipelined};
  fuzzpeer::Script script(data, size);
  for (Call call : kCalls) {
    fuzzpeer::Peer peer(script.nextGroup());
    nl::Socket socket(peer.link(), fuzzpeer::clientOptions());
    fuzzpeer::netlinkCall([&] { call(socket); });
    // The next request meets what the call left queued, or its end of stream.
    fuzzpeer::netlinkCall([&] { acknowledged(socket); });
  }
  fuzzpeer::checkNoDescriptorLeak();
  return 0;
}
