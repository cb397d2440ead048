// Runs code with the calling thread inside another network namespace.
#pragma once

#include <string>

namespace nl {

// Moves the calling thread into the network namespace at `path` (a file such
// as /run/netns/NAME or /proc/PID/ns/net) and back on destruction. An empty
// path does nothing. Sockets created meanwhile stay in the target namespace
// for their whole life, which is why handles open their socket inside one.
// Only the calling thread moves: other threads of the process are untouched.
class NetnsScope {
 public:
  explicit NetnsScope(const std::string& path);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  int original_ = -1;
};

}  // namespace nl
