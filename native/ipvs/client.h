// An IPVS generic-netlink client: one socket, the family id resolved once.
// Not thread-safe; the N-API layer serialises calls per handle.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipvs/codec.h"
#include "nl/socket.h"

namespace ipvs {

// One acknowledged request of a pipelined batch.
struct Mutation {
  uint8_t cmd = 0;  // IPVS_CMD_*
  bool hasService = false;
  Service service;
  Destination dest;
  Daemon daemon;
  Timeouts timeouts;
};

// Receives a snapshot while it is read, without a copy of the whole table:
// each service, then its destinations.
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  virtual void service(const Service& s) = 0;
  virtual void destination(const Destination& d) = 0;
  // The destinations given since the last service are void: its dump restarts.
  virtual void discardDestinations() = 0;
};

class Client {
 public:
  // Opens the socket inside the network namespace at `netnsPath` (empty: the
  // calling thread's) and looks up the IPVS family. Throws nl::Error(ENOENT)
  // with a message naming ip_vs when the module is not loaded.
  explicit Client(const std::string& netnsPath, const nl::SocketOptions& options = {});
  // The same over a test peer standing in for the kernel (nl::PeerLink).
  explicit Client(nl::PeerLink peer, const nl::SocketOptions& options = {});

  // The inode of the network namespace the socket lives in, read from the
  // socket itself at open (0 over a test peer).
  uint64_t netnsInode() const { return netnsInode_; }
  // The text of /proc/net/ip_vs_conn in the socket's namespace (generic
  // netlink has no connection dump), at most `maxBytes`.
  std::string connectionTable(size_t maxBytes) const { return sock_->procNet("ip_vs_conn", maxBytes); }

  Info info();
  std::vector<Service> services();
  std::optional<Service> service(const Service& key);
  // Destinations of a service; throws nl::Error(ESRCH) when it does not exist.
  std::vector<Destination> destinations(const Service& key);
  // Every service with its destinations, in the kernel's order.
  void snapshot(SnapshotSink& sink);
  std::vector<Daemon> daemons();
  Timeouts timeouts();

  // Sends every mutation pipelined in windows and returns each ACK in order.
  std::vector<nl::Ack> mutate(const std::vector<Mutation>& ops);
  // The same for `count` mutations handed out one at a time by `at(i,
  // scratch)`, which may build each in `scratch` (records.h, Requests).
  using MutationAt = std::function<const Mutation&(size_t i, Mutation& scratch)>;
  std::vector<nl::Ack> mutate(size_t count, const MutationAt& at);

 private:
  std::vector<uint8_t> buildRequest(uint8_t cmd, uint16_t flags, uint32_t seq, const Service* key);
  void appendMutation(nl::Writer& w, const Mutation& op, uint32_t seq);
  void dumpDestinations(const Service& key, std::vector<Destination>& out);

  std::unique_ptr<nl::Socket> sock_;
  uint16_t family_ = 0;
  uint64_t netnsInode_ = 0;
};

}  // namespace ipvs
