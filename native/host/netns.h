// Named network namespaces the way iproute2 keeps them (`ip netns add`):
// a file under /run/netns bind-mounted from a namespace, so that `ip netns`
// and ipvs-ts see the same ones. Names are checked by the caller.
#pragma once

#include <string>
#include <vector>

namespace host {

inline constexpr const char* kNetnsRunDir = "/run/netns";

// Creates /run/netns/NAME holding a new, empty network namespace. The
// namespace is made by unshare() on a thread of our own that then exits, so
// no thread that runs other work ever changes namespace.
void createNetns(const std::string& name);
// Detaches the bind mount and removes the file. The kernel frees the
// namespace (and destroys its devices) once nothing else holds it.
void deleteNetns(const std::string& name);
// Names under /run/netns, sorted; none when the folder does not exist.
std::vector<std::string> listNetns();

}  // namespace host
