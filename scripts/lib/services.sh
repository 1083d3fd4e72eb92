# shellcheck shell=bash
# Shared by scripts/test, scripts/demo, scripts/services and scripts/bench: installs what is
# missing, then starts a private Redis and PostgreSQL under .data/ on ports that do not clash
# with a developer's own servers (6379/5432).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="$ROOT/.data"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it yourself or run as root)"; fi
}

# ensure_packages [extra-debian-package ...]: installs Debian packages whose files are missing.
ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  [ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
  [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  { [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; } || missing+=(postgresql)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  if ! ruby -e 'require "sidekiq"' >/dev/null 2>&1; then missing+=(ruby-sidekiq); fi
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  if [ "${CONVEYOR_BROWSER:-1}" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  fi
  if [ "${CONVEYOR_IMAGE_TOOLS:-0}" = 1 ]; then
    # The image test: buildah builds it (scripts/build-image), kubectl renders deploy/kubernetes.
    command -v buildah >/dev/null 2>&1 || missing+=(buildah)
    command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  fi
  for extra in "$@"; do
    dpkg -s "$extra" >/dev/null 2>&1 || missing+=("$extra")
  done
  install_debian_packages "${missing[@]}"
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  command -v swift >/dev/null 2>&1 || die "swift is not on PATH (Swift 6.1 or newer is needed)"
}

# install_debian_packages PACKAGE...: apt-get installs the named packages (none: nothing).
install_debian_packages() {
  [ $# -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || die "missing $*, and this is not a Debian-like system with apt-get: install them yourself"
  log "installing missing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d keeps apt from starting the system-wide redis/postgres services.
  as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
}

# Python tools for tests, from PyPI into .data/pylib (not system-wide): Selenium for the
# browser test, kubernetes-validate for the deploy manifests.
ensure_python_tools() {
  if ! PYTHONPATH="$DATA/pylib" python3 -c 'import selenium, kubernetes_validate' >/dev/null 2>&1; then
    log "installing Selenium and kubernetes-validate (PyPI) into .data/pylib"
    python3 -m pip install --quiet --disable-pip-version-check --target "$DATA/pylib" selenium kubernetes-validate >/dev/null 2>&1 \
      || python3 -m pip install --quiet --break-system-packages --target "$DATA/pylib" selenium kubernetes-validate >/dev/null
  fi
  export CONVEYOR_TEST_PYTHONPATH="$DATA/pylib"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port NAME DEFAULT: reuses the port recorded in .data/NAME.port, else the first free one.
pick_port() {
  local name=$1 port=$2 file="$DATA/$1.port"
  if [ -f "$file" ]; then cat "$file"; return; fi
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port" > "$file"
  echo "$port"
}

start_redis() {
  mkdir -p "$DATA/redis"
  REDIS_PORT="${CONVEYOR_REDIS_PORT:-$(pick_port redis 6390)}"
  local pidfile="$DATA/redis/redis.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT"
  else
    if port_in_use "$REDIS_PORT"; then rm -f "$DATA/redis.port"; REDIS_PORT=$(pick_port redis "$((REDIS_PORT + 1))"); fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis" --daemonize yes \
      --pidfile "$pidfile" --logfile "$DATA/redis/redis.log" --save "" --appendonly no \
      --databases 512 --maxclients 4000 >/dev/null
    for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "Redis did not start; see $DATA/redis/redis.log"
    log "Redis started on 127.0.0.1:$REDIS_PORT (data in .data/redis)"
  fi
  export REDIS_PORT
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
}

stop_redis() {
  local pidfile="$DATA/redis/redis.pid"
  if [ -f "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$pidfile"
  fi
}

# Runs a PostgreSQL binary as the owner of the data directory: initdb refuses root.
pg_run() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_data_dir() {
  local dir="$DATA/pg"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    # The postgres user must reach the data directory; a checkout under a private home
    # directory is not reachable, so the cluster then lives in /tmp with a link from .data.
    if [ ! -L "$dir" ] && ! runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
      local alt
      alt="/tmp/conveyor-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
      mkdir -p "$alt"
      ln -sfn "$alt" "$dir"
    fi
    mkdir -p "$dir/"
    chown postgres: "$dir/"
    chmod 700 "$dir/"
  else
    mkdir -p "$dir"
  fi
  echo "$dir"
}

start_postgres() {
  local dir; dir=$(pg_data_dir)
  PG_PORT="${CONVEYOR_PG_PORT:-$(pick_port postgres 5440)}"
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in .data/pg"
    pg_run "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-locale >"$DATA/initdb.log" 2>&1 \
      || { cat "$DATA/initdb.log" >&2; die "initdb failed"; }
  fi
  if pg_run "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    if port_in_use "$PG_PORT"; then rm -f "$DATA/postgres.port"; PG_PORT=$(pick_port postgres "$((PG_PORT + 1))"); fi
    touch "$DATA/postgres.log"; chmod 666 "$DATA/postgres.log"
    pg_run "$PG_BIN/pg_ctl" -D "$dir" -l "$DATA/postgres.log" -w -t 60 start -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB" \
      >/dev/null || { tail -20 "$DATA/postgres.log" >&2; die "PostgreSQL did not start"; }
    log "PostgreSQL started on 127.0.0.1:$PG_PORT (data in .data/pg)"
  fi
  local db="${1:-conveyor}"
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$db\"" >/dev/null
  fi
  export PG_PORT
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$db"
}

stop_postgres() {
  local dir="$DATA/pg"
  [ -f "$dir/PG_VERSION" ] || return 0
  pg_run "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

stop_web() {
  local pidfile="$DATA/web.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

stop_services() {
  stop_web
  stop_redis
  stop_postgres
}
