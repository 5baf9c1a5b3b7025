{
  "targets": [
    {
      "target_name": "meshc_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/libbpf_log.cc",
        "src/object.cc",
        "src/map.cc",
        "src/program.cc",
        "src/link.cc",
        "src/ringbuf.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "libraries": ["-lbpf"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
