// Network sysctls under /proc/sys/net. They are per network namespace, and
// /proc/sys resolves them by the namespace of the thread that opens the file,
// so each access opens the file from inside a NetnsScope.
#pragma once

#include <string>

namespace host {

// `path` is relative to /proc/sys and must start with "net/" (checked here
// again: no empty, "." or ".." segments). `key` is how the caller spelled
// it, for messages. `netns` is a namespace file path; empty = the caller's.
// The value comes back without its trailing newline.
std::string readSysctl(const std::string& netns, const std::string& path, const std::string& key);
void writeSysctl(const std::string& netns, const std::string& path, const std::string& key, const std::string& value);

}  // namespace host
