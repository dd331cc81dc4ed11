{
  "targets": [
    {
      "target_name": "udpbatch",
      "sources": ["udpbatch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
