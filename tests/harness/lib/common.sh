# shellcheck shell=bash
# Helpers every script of tests/harness shares: logging, usage, the DIR argument, time, pids,
# ports, random names. Sourced, never run. The sourcing script sets LOG_TAG (the prefix of its
# log lines) before it calls any of these; START_TIMEOUT and STOP_TIMEOUT (seconds) for the
# server libraries.

log() { printf '%s: %s\n' "$LOG_TAG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Prints the running script's header comment (line 2 up to `set -euo pipefail`) and exits 2.
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[-1]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Sets DIR to the absolute path of the directory argument $1, making its parent if missing.
resolve_dir() {
  mkdir -p "$(dirname "$1")"
  DIR="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  [[ "$DIR" != / && "$(basename "$DIR")" != . && "$(basename "$DIR")" != .. ]] || die "bad DIR: $1"
}

now() { date +%s; }

pid_alive() { [[ -n "${1:-}" && "$1" != 0 ]] && kill -0 "$1" 2>/dev/null; }

# Random hex (2 characters per byte): SCRAM user names and passwords, quoted nowhere.
random_hex() { openssl rand -hex "${1:-16}"; }

# N distinct free TCP ports on 127.0.0.1, preferably below the ephemeral range so that a
# client's outgoing connection cannot take a port while its server is stopped for a fault test.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    lo = 32768
ports, socks = [], []
def try_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    socks.append(s)
    return s.getsockname()[1]
tries = 0
while len(ports) < n and tries < 500 and lo > 20000:
    tries += 1
    p = try_bind(random.randint(20000, lo - 1))
    if p and p not in ports:
        ports.append(p)
while len(ports) < n:
    p = try_bind(0)
    if p not in ports:
        ports.append(p)
print(" ".join(map(str, ports)))
PY
}

# Exit 0 if something accepts a TCP connection on HOST $1, port $2 within a second.
port_open() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
s.close()
PY
}
