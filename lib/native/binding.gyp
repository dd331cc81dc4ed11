{
  "target_defaults": {
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  },
  "targets": [
    { "target_name": "udpbatch", "sources": ["udpbatch.c"], "conditions": [["OS!='linux'", {"type": "none"}]] },
    { "target_name": "relay", "sources": ["relay.c"], "conditions": [["OS!='linux'", {"type": "none"}]] }
  ]
}
