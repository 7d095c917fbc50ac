{
  "targets": [
    {
      "target_name": "digits_native",
      "sources": ["native/addon.cc", "native/kernels.cc", "native/pool.cc", "native/amx.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno"],
      "cflags_cc": ["-std=gnu++17"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-march=native", "-ffp-contract=fast"]
      }
    }
  ]
}
