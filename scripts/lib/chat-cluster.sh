# The cluster mode of scripts/chat (`scripts/chat --cluster N ...`), sourced
# by it: Redis (a private redis-server when nothing answers at --redis), N
# sockeye-chat nodes on free ports, HAProxy in front on one port. Uses die
# and note from scripts/chat.
#
#   cluster_parse "$@"     reads --cluster N, --port P, --host H, --redis URL;
#                          the rest goes to every node
#   cluster_preflight      checks the binaries (with install hints) and Redis
#   cluster_run BIN        starts everything, prints the URL, waits; Ctrl-C or
#                          SIGTERM stops everything it started (exit 0); any
#                          of its processes exiting stops the rest (exit 1)

CLUSTER_NODES=3
CLUSTER_HOST=127.0.0.1
CLUSTER_PORT=3000
CLUSTER_REDIS=redis://127.0.0.1:6379
CLUSTER_ARGS=()
CLUSTER_FORWARDING=1
CLUSTER_PIDS=()
CLUSTER_DIR=

cluster_parse() {
  while (($#)); do
    case $1 in
      --cluster)
        [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || die "--cluster takes a number of nodes (1 to 99), e.g. --cluster 3"
        CLUSTER_NODES=$2
        shift 2
        ;;
      --port)
        [[ ${2:-} =~ ^[0-9]+$ ]] || die "--port takes the port HAProxy listens on, e.g. --port 3000"
        CLUSTER_PORT=$2
        shift 2
        ;;
      --host)
        [[ -n ${2:-} ]] || die "--host takes the address HAProxy listens on, e.g. --host 127.0.0.1"
        CLUSTER_HOST=$2
        shift 2
        ;;
      --redis)
        [[ ${2:-} == redis://* ]] || die "--redis takes a redis:// URL, e.g. --redis redis://127.0.0.1:6379"
        CLUSTER_REDIS=$2
        shift 2
        ;;
      --listen | --listen=* | --tls-listen | --tls-listen=*)
        die "$1: in cluster mode the nodes listen on free ports and HAProxy on --host/--port"
        ;;
      --no-forwarding)
        CLUSTER_FORWARDING=0
        CLUSTER_ARGS+=("$1")
        shift
        ;;
      *)
        CLUSTER_ARGS+=("$1")
        shift
        ;;
    esac
  done
}

# The binary named by the variable $1 (HAPROXY, REDIS_SERVER), or $2 on PATH
# or in /usr/sbin; empty when none.
find_binary() {
  local named=${!1:-}
  if [[ -n $named ]]; then
    [[ -x $named ]] && printf '%s' "$named"
    return 0
  fi
  command -v "$2" 2>/dev/null || { [[ -x /usr/sbin/$2 ]] && printf '%s' "/usr/sbin/$2"; } || true
}

# Whether a Redis answers PING at host $1 port $2 (bash's /dev/tcp, 2 s).
redis_answers() {
  local reply
  reply=$(timeout 2 bash -c 'exec 3<>/dev/tcp/$0/$1 && printf "PING\r\n" >&3 && head -c 5 <&3' "$1" "$2" 2>/dev/null) || return 1
  [[ $reply == +PONG ]]
}

# Whether something accepts TCP connections at host $1 port $2.
port_open() {
  timeout 1 bash -c 'exec 3<>/dev/tcp/$0/$1' "$1" "$2" 2>/dev/null
}

cluster_preflight() {
  HAPROXY_BIN=$(find_binary HAPROXY haproxy)
  [[ -n $HAPROXY_BIN ]] ||
    die "haproxy not found (or HAPROXY=${HAPROXY:-} is not an executable): install it, e.g. \`sudo apt-get install haproxy\` (Debian/Ubuntu) or \`brew install haproxy\` (macOS)"
  local rest=${CLUSTER_REDIS#redis://}
  rest=${rest##*@}
  rest=${rest%%/*}
  REDIS_HOST=${rest%:*}
  REDIS_PORT=${rest##*:}
  [[ $rest == *:* ]] || REDIS_PORT=6379
  [[ $REDIS_PORT =~ ^[0-9]+$ && -n $REDIS_HOST ]] || die "--redis $CLUSTER_REDIS: expected redis://host:port"
  REDIS_START=0
  if ! redis_answers "$REDIS_HOST" "$REDIS_PORT"; then
    [[ $REDIS_HOST == 127.0.0.1 || $REDIS_HOST == localhost ]] ||
      die "no Redis answers at $CLUSTER_REDIS (only a local one is started here)"
    REDIS_SERVER_BIN=$(find_binary REDIS_SERVER redis-server)
    [[ -n $REDIS_SERVER_BIN ]] ||
      die "no Redis answers at $CLUSTER_REDIS and redis-server is not installed: install it, e.g. \`sudo apt-get install redis-server\` (Debian/Ubuntu) or \`brew install redis\` (macOS), or give --redis URL of a running one"
    REDIS_START=1
  fi
}

# A free TCP port on 127.0.0.1, from the kernel (node: scripts/chat needs it
# anyway).
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

cluster_stop() {
  trap - INT TERM EXIT
  local pid i
  # Reverse order: HAProxy first, then the nodes, Redis last.
  for ((i = ${#CLUSTER_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${CLUSTER_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n $CLUSTER_DIR ]] && rm -rf "$CLUSTER_DIR"
  note "stopped everything it started"
}

# Waits until the file $1 has a line matching $2 (10 s), for the process $3.
wait_line() {
  local i
  for i in $(seq 200); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

cluster_run() {
  local bin=$1 i
  CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sockeye-chat-cluster.XXXXXX")
  trap cluster_stop EXIT
  # A signal is the normal way to stop: exit 0 once everything stopped.
  trap 'exit 0' INT TERM

  local redis_url=$CLUSTER_REDIS
  if ((REDIS_START)); then
    local port=$REDIS_PORT
    if port_open 127.0.0.1 "$port"; then
      port=$(free_port)
      note "port $REDIS_PORT is taken by something that is not Redis: the private redis-server uses $port"
    fi
    "$REDIS_SERVER_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$CLUSTER_DIR/redis.log" 2>&1 &
    CLUSTER_PIDS+=($!)
    for i in $(seq 100); do
      redis_answers 127.0.0.1 "$port" && break
      kill -0 "${CLUSTER_PIDS[-1]}" 2>/dev/null || die "redis-server did not start: $(tail -n 5 "$CLUSTER_DIR/redis.log")"
      sleep 0.05
    done
    redis_answers 127.0.0.1 "$port" || die "redis-server does not answer on port $port"
    redis_url=redis://127.0.0.1:$port
    note "started a private redis-server at $redis_url (stopped with the cluster)"
  else
    note "using the Redis at $redis_url"
  fi

  # The nodes authenticate the frames they forward to each other with a
  # shared secret: a random one unless the caller exported one.
  if [[ -z ${SOCKEYE_CLUSTER_SECRET:-} ]]; then
    SOCKEYE_CLUSTER_SECRET=$(head -c 24 /dev/urandom | base64)
    export SOCKEYE_CLUSTER_SECRET
  fi

  local servers=()
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    "$bin" --listen 127.0.0.1:0 --redis "$redis_url" "${CLUSTER_ARGS[@]}" \
      >"$CLUSTER_DIR/node$i.out" 2> >(sed -u "s/^/[node$i] /" >&2) &
    CLUSTER_PIDS+=($!)
    wait_line "$CLUSTER_DIR/node$i.out" '^listening on http://' "${CLUSTER_PIDS[-1]}" ||
      die "chat node $i did not start (see its log above)"
    local addr
    addr=$(sed -n 's|^listening on http://||p' "$CLUSTER_DIR/node$i.out" | head -n 1)
    servers+=("  server node$i $addr check inter 1s$( ((CLUSTER_FORWARDING)) || printf ' cookie node%s' "$i")")
    note "node $i on http://$addr"
  done

  local persistence="  # sessions are served from any node: no stickiness needed"
  ((CLUSTER_FORWARDING)) || persistence="  cookie SERVERID insert indirect nocache"
  # Timeouts above the ping interval plus timeout (25 s + 20 s): a polling
  # GET is held open for up to the ping interval.
  cat >"$CLUSTER_DIR/haproxy.cfg" <<EOF
global
  maxconn 4096

defaults
  mode http
  option redispatch
  retries 3
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout http-keep-alive 60s

frontend chat
  bind $CLUSTER_HOST:$CLUSTER_PORT
  default_backend nodes

backend nodes
  balance roundrobin
  option httpchk GET /healthz
$persistence
$(printf '%s\n' "${servers[@]}")
EOF
  "$HAPROXY_BIN" -db -f "$CLUSTER_DIR/haproxy.cfg" 2> >(sed -u "s/^/[haproxy] /" >&2) &
  CLUSTER_PIDS+=($!)
  local url="http://$CLUSTER_HOST:$CLUSTER_PORT"
  [[ $CLUSTER_HOST == *:* ]] && url="http://[$CLUSTER_HOST]:$CLUSTER_PORT"
  for i in $(seq 200); do
    [[ $(curl -s --max-time 1 "$url/healthz" 2>/dev/null) == ok ]] && break
    kill -0 "${CLUSTER_PIDS[-1]}" 2>/dev/null || die "haproxy did not start on $CLUSTER_HOST:$CLUSTER_PORT (see its log above; is the port taken?)"
    sleep 0.05
  done
  [[ $(curl -s --max-time 1 "$url/healthz" 2>/dev/null) == ok ]] || die "haproxy does not answer on $url"

  local mode="round robin, sessions served from any node"
  ((CLUSTER_FORWARDING)) || mode="SERVERID cookie stickiness (--no-forwarding)"
  note "HAProxy in front of $CLUSTER_NODES nodes ($mode); Ctrl-C stops everything"
  printf 'cluster on %s/\n' "$url"
  # Until a signal, or until any process started here exits.
  wait -n "${CLUSTER_PIDS[@]}" || true
  note "a process of the cluster exited: stopping the rest"
  return 1
}
