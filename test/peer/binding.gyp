{
  # The netlink test peer (test only): built by scripts/build-peer.mjs, never
  # part of the package. It links the native core it talks to.
  "targets": [
    {
      "target_name": "ipvs_test_peer",
      "sources": [
        "addon.cc",
        "model.cc",
        "server.cc",
        "../../native/nl/attr.cc",
        "../../native/nl/genl.cc",
        "../../native/nl/netns.cc",
        "../../native/nl/socket.cc",
        "../../native/nl/uring.cc",
        "../../native/ipvs/codec.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../../native",
        ".."
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
