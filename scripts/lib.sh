# Shared by the end-to-end scripts (sourced, not run).

# A TCP port free on loopback right now, chosen by the kernel: a random pick from a fixed range
# can land on a port another process holds (the range overlaps the ephemeral ports).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to 30 s for GET $1/health; on failure prints the server log ($2) and exits 1.
wait_for_health() {
  for _ in $(seq 1 300); do
    curl -fsS "$1/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start at $1"; cat "$2"; exit 1
}
