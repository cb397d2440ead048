// fuzz_paths: libFuzzer target for the checks that stand between a string
// from JavaScript and a file the addon opens, writes or unmounts as root:
//
//   byte 0 even: the rest is a sysctl path  -> checkPath (host/sysctl.cc)
//   byte 0 odd:  the rest is a netns name   -> checkName (host/netns.cc)
//
// Both are file-local, so this file compiles those two sources into itself
// (nothing in them is changed, and nothing but the checks is called: no file
// is opened, written or mounted, no namespace entered).
//
// Contract: a check throws nl::Error(EINVAL) or accepts, exactly as its
// comment says (sysctl.h: starts with "net/", no empty, "." or ".."
// segment; netns.cc: a file name, not "." or "..", no '/'; neither has a
// NUL), and what it accepts cannot leave its folder: "/proc/sys/" + path
// stays under /proc/sys/net, "/run/netns/" + name is a file of /run/netns.

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/check.h"
#include "host/netns.cc"
#include "host/sysctl.cc"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '/') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// The folders of an absolute path once "." and ".." are applied the way the
// kernel walks them; false when ".." climbs above the root.
bool resolve(const std::string& absolute, std::vector<std::string>& out) {
  out.clear();
  for (const std::string& seg : split(absolute)) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (out.empty()) return false;
      out.pop_back();
      continue;
    }
    out.push_back(seg);
  }
  return true;
}

bool sysctlPathAsDocumented(const std::string& path) {
  if (path.compare(0, 4, "net/") != 0 || path.find('\0') != std::string::npos) return false;
  for (const std::string& seg : split(path)) {
    if (seg.empty() || seg == "." || seg == "..") return false;
  }
  return true;
}

bool netnsNameAsDocumented(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Runs a check; true when it accepted, false when it refused with EINVAL.
template <typename Fn>
bool accepts(Fn&& check) {
  try {
    check();
    return true;
  } catch (const nl::Error& e) {
    FUZZ_CHECK(e.error() == EINVAL);
    return false;
  }
}

void sysctlPath(const std::string& path) {
  bool ok = accepts([&] { host::checkPath(path, path); });
  FUZZ_CHECK(ok == sysctlPathAsDocumented(path));
  if (!ok) return;
  std::vector<std::string> where;
  FUZZ_CHECK(resolve("/proc/sys/" + path, where));
  FUZZ_CHECK(where.size() >= 4 && where[0] == "proc" && where[1] == "sys" && where[2] == "net");
}

void netnsName(const std::string& name) {
  bool ok = accepts([&] { host::checkName(name); });
  FUZZ_CHECK(ok == netnsNameAsDocumented(name));
  if (!ok) return;
  std::vector<std::string> where;
  FUZZ_CHECK(resolve(std::string(host::kNetnsRunDir) + "/" + name, where));
  FUZZ_CHECK(where.size() == 3 && where[0] == "run" && where[1] == "netns" && where[2] == name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    sysctlPath(text);
  } else {
    netnsName(text);
  }
  return 0;
}
