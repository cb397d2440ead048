{
  "targets": [
    {
      "target_name": "ipvs_native",
      "sources": [
        "native/nl/socket.cc",
        "native/nl/attr.cc",
        "native/nl/genl.cc",
        "native/ipvs/codec.cc",
        "native/ipvs/client.cc",
        "native/nl/netns.cc",
        "native/nl/uring.cc",
        "native/napi/convert.cc",
        "native/ipvs/records.cc",
        "native/napi/job.cc",
        "native/napi/addon.cc",
        "native/host/ip.cc",
        "native/host/rtnl.cc",
        "native/host/links.cc",
        "native/host/sysctl.cc",
        "native/host/netns.cc",
        "native/host/tcp.cc",
        "native/host/announce.cc",
        "native/napi/host.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror=return-type", "-O2", "-fvisibility-inlines-hidden"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden", "-ffunction-sections", "-fdata-sections"],
      "ldflags": ["-Wl,--gc-sections", "-Wl,--as-needed"]
    }
  ]
}
