#!/usr/bin/env bash
# Builds, starts and stops MonitorMed's test peers as native processes on loopback:
# HAPI FHIR JPA (FHIR R4), FerretDB (MongoDB wire protocol, SQLite backend) and Redis.
#
# Usage: peers/peers.sh install | start [PEER...] | stop [PEER...] | status | reset
#   PEER is hapi, ferretdb, redis or all (the default).
#
# Environment:
#   MONITORMED_PEERS_DIR   state directory for data, logs and pid files (default <repo>/.peers)
#   HAPI_PORT              HAPI HTTP port (default 8080)
#   HAPI_JAVA_OPTS         JVM options for HAPI (default -Xmx1536m)
#   HAPI_START_TIMEOUT     seconds to wait for GET /fhir/metadata (default 300)
#   HAPI_H2_FILE           H2 database file path; unset means an in-memory database
#   HAPI_IG_PACKAGE        FHIR NPM package (.tgz) that HAPI installs at start (default: the one
#                          that 'npm run build -w profiles' writes to profiles/build/, if built)
#   FERRETDB_PORT          FerretDB port (default 27017)
#   REDIS_PORT             Redis port (default 6379)
#   PEER_START_TIMEOUT     seconds to wait for FerretDB and Redis (default 30)
#   PEER_STOP_TIMEOUT      seconds between SIGTERM and SIGKILL (default 30)
set -euo pipefail

PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$PEERS_DIR")"
STATE_DIR="${MONITORMED_PEERS_DIR:-$REPO_ROOT/.peers}"

HOST=127.0.0.1
HAPI_PORT="${HAPI_PORT:-8080}"
FERRETDB_PORT="${FERRETDB_PORT:-27017}"
REDIS_PORT="${REDIS_PORT:-6379}"
HAPI_JAVA_OPTS="${HAPI_JAVA_OPTS:--Xmx1536m}"
HAPI_START_TIMEOUT="${HAPI_START_TIMEOUT:-300}"
PEER_START_TIMEOUT="${PEER_START_TIMEOUT:-30}"
PEER_STOP_TIMEOUT="${PEER_STOP_TIMEOUT:-30}"

HAPI_DIR="$PEERS_DIR/hapi"
HAPI_JAR="$HAPI_DIR/target/hapi-peer-0.1.0.jar"
FERRETDB_DIR="$PEERS_DIR/ferretdb"
PROFILES_DIR="$REPO_ROOT/profiles"
FERRETDB_BIN="$FERRETDB_DIR/ferretdb-peer"

ALL_PEERS=(hapi ferretdb redis)

log() { printf '%s\n' "$*" >&2; }
die() { log "peers.sh: $*"; exit 1; }

usage() {
  # The header comment, from line 2 to the first line that is not a comment.
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------- install

# Debian packages that the peers need, as "command:package" pairs.
DEBIAN_NEEDS=(redis-server:redis-server redis-cli:redis-tools curl:curl java:openjdk-17-jre-headless
  javac:openjdk-17-jdk-headless mvn:maven flock:util-linux)

install_debian_packages() {
  local missing=() pair
  for pair in "${DEBIAN_NEEDS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  log "installing Debian packages: ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}

# Prints the first file under the given paths that is newer than $1, if any.
first_newer_than() {
  local target="$1"
  shift
  find "$@" -type f -newer "$target" -print -quit
}

build_hapi() {
  if [[ -f "$HAPI_JAR" && -z "$(first_newer_than "$HAPI_JAR" "$HAPI_DIR/pom.xml" "$HAPI_DIR/src")" ]]; then
    return 0
  fi
  log "building $HAPI_JAR with Maven (the first build fills ~/.m2 with about 700 MB)"
  (cd "$HAPI_DIR" && mvn -B -q -Dstyle.color=never package -DskipTests)
  # Maven may leave the jar untouched when no class changed, and then every later call would
  # rebuild. Touching it records that the sources were built.
  touch "$HAPI_JAR"
}

# Prints the newest FHIR package that 'npm run build -w profiles' wrote, or nothing if none exists.
built_package() {
  local file newest=""
  for file in "$PROFILES_DIR"/build/*.tgz; do
    [[ -f "$file" ]] || continue
    [[ -z "$newest" || "$file" -nt "$newest" ]] && newest="$file"
  done
  printf '%s' "$newest"
}

# Prints the FHIR package that HAPI should install: $HAPI_IG_PACKAGE, else the built one.
ig_package() {
  if [[ -n "${HAPI_IG_PACKAGE:-}" ]]; then
    printf '%s' "$HAPI_IG_PACKAGE"
  else
    built_package
  fi
}

# Builds MonitorMed's FHIR package (FSH compiled by SUSHI) when it is missing or older than its
# sources. Returns 1 when the npm dependencies of the profiles workspace are not installed.
build_profiles() {
  local package
  package="$(built_package)"
  if [[ -n "$package" && -z "$(first_newer_than "$package" "$PROFILES_DIR/sushi-config.yaml" \
    "$PROFILES_DIR/input" "$PROFILES_DIR/scripts" "$PROFILES_DIR/package.json")" ]]; then
    return 0
  fi
  if [[ ! -x "$REPO_ROOT/node_modules/.bin/sushi" ]]; then
    log "profiles: SUSHI is not installed; run 'npm ci' at $REPO_ROOT to build the FHIR package"
    return 1
  fi
  log "building the FHIR package in $PROFILES_DIR (SUSHI)"
  (cd "$REPO_ROOT" && npm run --silent build -w profiles)
}

build_ferretdb() {
  if [[ -x "$FERRETDB_BIN" && -z "$(first_newer_than "$FERRETDB_BIN" "$FERRETDB_DIR"/*.go \
    "$FERRETDB_DIR/go.mod" "$FERRETDB_DIR/go.sum")" ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go is missing: FerretDB v1.24.2 needs Go 1.24 or newer (Debian 12's golang is too old)"
  log "building $FERRETDB_BIN"
  (cd "$FERRETDB_DIR" && go build -o "$FERRETDB_BIN" .)
}

install_peer() {
  case "$1" in
    hapi)
      build_hapi
      # Without the package HAPI still starts, but $validate checks only the R4 core profiles.
      build_profiles || log "hapi: starting without MonitorMed's FHIR package"
      ;;
    ferretdb) build_ferretdb ;;
    redis) ;; # Debian package, installed by install_debian_packages
  esac
}

cmd_install() {
  install_debian_packages
  # HAPI reads the package only at start, so a running HAPI does not prevent this build.
  build_profiles || die "profiles: the FHIR package was not built"
  local peer pid
  for peer in hapi ferretdb; do
    # Rebuilding would replace the jar or binary under the running process.
    if pid="$(running_pid "$peer")"; then
      log "$peer is running (pid $pid), so it was not rebuilt; run 'peers.sh stop $peer' first"
      continue
    fi
    install_peer "$peer"
  done
  log "peers installed"
}

# ---------------------------------------------------------------- process helpers

pid_file() { printf '%s/%s.pid' "$STATE_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$STATE_DIR" "$1"; }

# Prints a string that the peer's command line contains, which guards against a reused pid.
cmdline_marker() {
  case "$1" in
    hapi) printf 'hapi-peer' ;;
    ferretdb) printf '%s' "$FERRETDB_BIN" ;;
    redis) printf 'redis-server' ;;
  esac
}

# Prints the pid of the peer that this script started, if that process is still alive.
running_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(cmdline_marker "$1")" || return 1
  printf '%s' "$pid"
}

spawned_pid_alive() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

peer_url() {
  case "$1" in
    hapi) printf 'http://%s:%s/fhir' "$HOST" "$HAPI_PORT" ;;
    ferretdb) printf 'mongodb://%s:%s/' "$HOST" "$FERRETDB_PORT" ;;
    redis) printf 'redis://%s:%s' "$HOST" "$REDIS_PORT" ;;
  esac
}

peer_port() {
  case "$1" in
    hapi) printf '%s' "$HAPI_PORT" ;;
    ferretdb) printf '%s' "$FERRETDB_PORT" ;;
    redis) printf '%s' "$REDIS_PORT" ;;
  esac
}

healthy() {
  case "$1" in
    hapi) curl -sf -o /dev/null --max-time 10 "http://$HOST:$HAPI_PORT/fhir/metadata" ;;
    ferretdb)
      if [[ -x "$FERRETDB_BIN" ]]; then
        "$FERRETDB_BIN" -ping -port "$FERRETDB_PORT" 2>/dev/null
      else
        ping_mongo_with_node
      fi
      ;;
    redis) [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] ;;
  esac
}

# Pings a MongoDB wire-protocol server with the project's mongodb driver. A checkout that has not built
# its own FerretDB binary yet still recognises one that another checkout started on the port.
ping_mongo_with_node() {
  [[ -d "$REPO_ROOT/node_modules/mongodb" ]] || return 1
  (cd "$REPO_ROOT" && timeout 15 node -e '
    const { MongoClient } = require("mongodb");
    const client = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 5000 });
    client.db("admin").command({ ping: 1 })
      .then(() => client.close().then(() => process.exit(0)))
      .catch(() => process.exit(1));
  ' "mongodb://$HOST:$FERRETDB_PORT/") >/dev/null 2>&1
}

port_in_use() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# ---------------------------------------------------------------- start

# Starts a peer in its own session so that it outlives this shell, with its output in its log file.
spawn() {
  local peer="$1" workdir="$2"
  shift 2
  local log_path
  log_path="$(log_file "$peer")"
  mkdir -p "$workdir"
  [[ -f "$log_path" ]] && mv -f "$log_path" "$log_path.1"
  # 9>&- closes the lock descriptor, which the peer would otherwise hold for its whole life.
  (cd "$workdir" && exec setsid nohup "$@" >"$log_path" 2>&1 </dev/null 9>&-) &
  printf '%s' "$!" >"$(pid_file "$peer")"
}

# Launches a peer without waiting for it. Returns 0 if it is running or healthy afterwards.
launch() {
  local peer="$1"
  if running_pid "$peer" >/dev/null; then
    return 0 # started earlier by this script: healthy or still booting
  fi
  rm -f "$(pid_file "$peer")"
  if healthy "$peer"; then
    return 0 # healthy but started elsewhere; left alone
  fi
  if port_in_use "$(peer_port "$peer")"; then
    die "$peer: port $(peer_port "$peer") on $HOST is in use by a process that does not respond as $peer; stop that process or choose another port (see the environment variables in peers.sh --help)"
  fi

  # Build only when this peer is about to start, so that start never rebuilds under a running peer.
  install_peer "$peer"

  case "$peer" in
    hapi)
      # Run a copy: the JVM reads classes from the jar lazily, and a rebuild for another state
      # directory (another port) would otherwise rewrite the jar under this server.
      local run_jar="$STATE_DIR/hapi/hapi-peer.jar"
      mkdir -p "$STATE_DIR/hapi"
      cp -p "$HAPI_JAR" "$run_jar.tmp"
      mv -f "$run_jar.tmp" "$run_jar"
      # The server reads HAPI_PORT, HAPI_IG_PACKAGE (and HAPI_H2_FILE, if exported) from its
      # environment. IgPackageLoader installs the package before Tomcat accepts requests.
      local package
      package="$(ig_package)"
      [[ -z "$package" ]] || log "hapi: installing FHIR package $package at start"
      # shellcheck disable=SC2086 # HAPI_JAVA_OPTS is a list of JVM options
      spawn hapi "$STATE_DIR/hapi" env HAPI_PORT="$HAPI_PORT" HAPI_IG_PACKAGE="$package" \
        java $HAPI_JAVA_OPTS -jar "$run_jar"
      ;;
    ferretdb)
      # Embedded FerretDB v1.24 forces telemetry off. DO_NOT_TRACK=1 is the opt-out that FerretDB's
      # own command reads, set here as a second guard.
      spawn ferretdb "$STATE_DIR/ferretdb" env DO_NOT_TRACK=1 "$FERRETDB_BIN" \
        -port "$FERRETDB_PORT" -data-dir "$STATE_DIR/ferretdb/data"
      ;;
    redis)
      # Ephemeral cache: no RDB snapshots and no AOF, so nothing survives a restart.
      spawn redis "$STATE_DIR/redis" redis-server --bind "$HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --daemonize no --dir "$STATE_DIR/redis" --logfile ""
      ;;
  esac
}

# Waits until a peer is healthy. On failure prints the last 40 log lines and returns 1.
wait_healthy() {
  local peer="$1" timeout="$2" started=$SECONDS pid
  while ! healthy "$peer"; do
    if ! pid="$(running_pid "$peer")"; then
      # Right after spawn the pid is still the subshell, whose command line lacks the peer's marker
      # until it execs the server, so a live pid gets a few seconds before it counts as exited.
      if spawned_pid_alive "$peer" && ((SECONDS - started < 10)); then
        sleep 1
        continue
      fi
      log "$peer: process exited before it became healthy; last 40 lines of $(log_file "$peer"):"
      tail -n 40 "$(log_file "$peer")" >&2 || true
      return 1
    fi
    if ((SECONDS - started >= timeout)); then
      log "$peer: not healthy after ${timeout}s (pid $pid); last 40 lines of $(log_file "$peer"):"
      tail -n 40 "$(log_file "$peer")" >&2 || true
      return 1
    fi
    sleep 1
  done
  local pid_note="started elsewhere"
  pid="$(running_pid "$peer")" && pid_note="pid $pid"
  printf '%-9s up   %s  (%s, ready after %ss)\n' "$peer:" "$(peer_url "$peer")" "$pid_note" "$((SECONDS - started))"
}

cmd_start() {
  local peers=("$@") peer failed=0
  install_debian_packages

  # HAPI needed 30 s (idle) to 143 s (busy) to boot on a 2-core machine, so launch it first and
  # bring up the others while it starts.
  for peer in "${peers[@]}"; do launch "$peer"; done
  for peer in "${peers[@]}"; do
    local timeout="$PEER_START_TIMEOUT"
    [[ "$peer" == hapi ]] && timeout="$HAPI_START_TIMEOUT"
    wait_healthy "$peer" "$timeout" || failed=1
  done
  return "$failed"
}

# ---------------------------------------------------------------- stop, status, reset

cmd_stop() {
  local peers=("$@") peer pid pids=()
  for peer in "${peers[@]}"; do
    if pid="$(running_pid "$peer")"; then
      kill -TERM "$pid"
      pids+=("$peer:$pid")
    else
      rm -f "$(pid_file "$peer")"
    fi
  done

  local entry started=$SECONDS
  for entry in "${pids[@]}"; do
    peer="${entry%%:*}"
    pid="${entry#*:}"
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - started < PEER_STOP_TIMEOUT)); do
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$peer: still running ${PEER_STOP_TIMEOUT}s after SIGTERM; sending SIGKILL to pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pid_file "$peer")"
    printf '%-9s stopped (pid %s)\n' "$peer:" "$pid"
  done
}

cmd_status() {
  local peer pid down=0
  for peer in "${ALL_PEERS[@]}"; do
    if healthy "$peer"; then
      local pid_note="started elsewhere"
      pid="$(running_pid "$peer")" && pid_note="pid $pid"
      printf '%-9s up   %s  (%s)\n' "$peer:" "$(peer_url "$peer")" "$pid_note"
    elif pid="$(running_pid "$peer")"; then
      printf '%-9s down %s  (pid %s is running but not healthy; see %s)\n' \
        "$peer:" "$(peer_url "$peer")" "$pid" "$(log_file "$peer")"
      down=1
    else
      printf '%-9s down %s\n' "$peer:" "$(peer_url "$peer")"
      down=1
    fi
  done
  return "$down"
}

cmd_reset() {
  cmd_stop "${ALL_PEERS[@]}"
  # Delete only what this script creates, in case the state directory is shared.
  local peer
  for peer in "${ALL_PEERS[@]}"; do
    rm -rf "${STATE_DIR:?}/$peer" "$(log_file "$peer")" "$(log_file "$peer").1" "$(pid_file "$peer")"
  done
  log "peer data and logs deleted from $STATE_DIR"
}

# ---------------------------------------------------------------- main

# Prints the selected peers, one a line. No argument or "all" means every peer.
select_peers() {
  local arg
  [[ $# -eq 0 ]] && set -- all
  for arg in "$@"; do
    case "$arg" in
      all) printf '%s\n' "${ALL_PEERS[@]}" ;;
      *) printf '%s\n' "$arg" ;;
    esac
  done | awk '!seen[$0]++'
}

main() {
  local command="${1:-}"
  [[ $# -gt 0 ]] && shift

  case "$command" in
    install | start | stop | status | reset) ;;
    -h | --help | help)
      usage
      return 0
      ;;
    *)
      usage >&2
      return 2
      ;;
  esac

  local arg
  for arg in "$@"; do
    case "$arg" in
      all | hapi | ferretdb | redis) ;;
      *) die "unknown peer '$arg': expected hapi, ferretdb, redis or all" ;;
    esac
  done

  mkdir -p "$STATE_DIR"
  # Serialize commands that change state, because two starts would race for the same ports and
  # pid files. status only reads, so it does not wait for a start that is still booting HAPI.
  if [[ "$command" != status ]] && command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_DIR/.lock"
    flock 9
  fi

  local peers
  mapfile -t peers < <(select_peers "$@")
  case "$command" in
    install) cmd_install ;;
    start) cmd_start "${peers[@]}" ;;
    stop) cmd_stop "${peers[@]}" ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
  esac
}

main "$@"
