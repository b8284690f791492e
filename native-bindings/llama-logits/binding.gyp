{
  # specroute_llama_logits: reads node-llama-cpp's logits in place (llama-logits.cc). Built by ../build.mjs after
  # the kernels, against node-llama-cpp's addon headers and the llama.cpp headers of the same release, which
  # build.mjs unpacks from node-llama-cpp's git bundle into build/llama-headers. Nothing is linked against
  # libllama: its functions are looked up in the copy node-llama-cpp has loaded.
  "variables": {
    "node_llama_cpp_addon%": "../../node_modules/node-llama-cpp/llama/addon",
    "llama_headers%": "../build/llama-headers"
  },
  "targets": [
    {
      "target_name": "specroute_llama_logits",
      "sources": ["llama-logits.cc", "../src/kernels.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../src",
        "<(node_llama_cpp_addon)",
        "<(llama_headers)/include",
        "<(llama_headers)/ggml/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-trapping-math"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-trapping-math", "-Wno-invalid-offsetof"],
      "libraries": ["-ldl"]
    }
  ]
}
