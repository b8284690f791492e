{
  # specroute_kernels: the vocabulary-wide scoring kernels (see README.md). Built by build.mjs (npm's install
  # script) with node-gyp against local Node headers; nothing is downloaded.
  "targets": [
    {
      "target_name": "specroute_kernels",
      "sources": ["src/addon.cc", "src/kernels.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # Portable -O3 (no -march=native: the binary may move machines). -ffp-contract=off keeps a*b+c rounded
      # twice, as JavaScript does, on targets with fused multiply-add (aarch64). -fno-trapping-math only lets
      # the compiler vectorise loops with selects (no code here reads floating-point exception flags); results
      # do not change.
      "cflags": ["-O3", "-ffp-contract=off", "-fno-trapping-math"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-trapping-math"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CPLUSPLUSFLAGS": ["-ffp-contract=off", "-fno-trapping-math"],
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17", "/fp:precise"] }
      }
    }
  ]
}
