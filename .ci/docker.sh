#!/usr/bin/env bash
# Makes a Docker engine available for the docker runtime tests (notes/docker.md): installs
# Debian's docker.io and busybox-static when missing, starts dockerd in the background when no
# socket answers (there is no systemd here), and prints the engine version. Safe to run twice.
set -euo pipefail

SOCKET=/var/run/docker.sock
log() { printf '\n== %s\n' "$*"; }

# The machine may carry a docker *client* only, so look for the engine binary, not `docker`.
packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
# The test image is built from the static busybox (it must run in an empty rootfs).
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || packages+=(busybox-static)
if ((${#packages[@]})); then
  log "installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

socket_answers() { [[ -S $SOCKET ]] && timeout 5 docker -H "unix://$SOCKET" version >/dev/null 2>&1; }

if ! socket_answers; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  # A socket file left by a dead daemon would make dockerd refuse to start.
  [[ -S $SOCKET ]] && rm -f "$SOCKET"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  # Whoever called us may stop the daemon we started (and only that one).
  echo $! >"${DOCKERD_PIDFILE:-/tmp/tug-dockerd.pid}"
  for _ in $(seq 1 60); do
    socket_answers && break
    sleep 0.5
  done
  if ! socket_answers; then
    echo "dockerd did not answer on $SOCKET within 30 s; last lines of /tmp/dockerd.log:" >&2
    tail -n 20 /tmp/dockerd.log >&2 || true
    exit 1
  fi
fi

log "docker engine"
docker -H "unix://$SOCKET" version --format 'client {{.Client.Version}}, engine {{.Server.Version}} (API {{.Server.APIVersion}}, {{.Server.Os}}/{{.Server.Arch}})'
