#!/bin/bash
# scripts/systemd-boot-check.sh [DEB] — installs hookd's .deb (default: the newest
# build/hookd_*.deb, from `make deb`) on a fresh Debian 12 booted under a real systemd, and
# checks that hookd.service and hookd-receive.service work: Type=notify reaches active
# (READY=1), DynamicUser + StateDirectory give a private state directory owned by a dynamic
# user, /healthz answers, the generated admin token is in the journal exactly once and opens
# the API, the receiver verifies a signed webhook and runs its --exec handler inside the
# sandbox, `systemctl stop` is clean (STOPPING=1, exit 0), `systemd-analyze security` rates
# both units at most HOOKD_MAX_EXPOSURE, warnings reach the journal at warning priority, an
# unconfigured receiver fails at once (no restart loop), hookd.service runs on the machine's
# PostgreSQL, an upgrade restarts the running units (and only those), and purge stops the
# units and drops their state.
#
# How: a minbase Debian 12 made by debootstrap, cached in HOOKD_SYSTEMD_ROOT
# (/var/tmp/hookd-root; delete it to refresh) and copied for each run so every run starts
# fresh; the .deb's dependencies are downloaded from the mirror into that copy (not
# installed), then the copy is booted with systemd-nspawn on a private network (so ports 8080
# and 9090 of the host are not touched) and `apt-get install ./hookd_….deb` runs inside it,
# with its maintainer scripts seeing a running systemd. The booted machine is driven through
# nsenter, because systemctl -M/machinectl need a systemd on the host. PostgreSQL (Debian's
# postgresql) is installed in the machine too, to check hookd.service on it through its
# local socket with peer authentication (HOOKD_CHECK_POSTGRES=0 skips that).
# Needs root (CAP_SYS_ADMIN), debootstrap and systemd-container (installed when missing), and
# the Debian mirror; takes a few minutes the first time, under a minute once cached. Not part
# of `make test`: run `make systemd-check`. Exits non-zero naming the first check that
# failed; stops the machine and removes the copy on every exit (HOOKD_KEEP=1 keeps the copy).
set -eEu
set -o pipefail # (so: no `| grep -q`, whose early exit fails the writer with SIGPIPE)
# a command that fails outside the named checks still says where
trap 'echo "systemd-boot-check: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

src=$(cd "$(dirname "$0")/.." && pwd)
cache=${HOOKD_SYSTEMD_ROOT:-/var/tmp/hookd-root}
mirror=${HOOKD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
max_exposure=${HOOKD_MAX_EXPOSURE:-2.0}
check_postgres=${HOOKD_CHECK_POSTGRES:-1}
machine="hookdcheck$$"
work=""
nspawn_pid=""
pid1=""
summary=()

say() { echo "== $*"; }
ok() {
  echo "   ok: $*"
  summary+=("$*")
}
fail() {
  echo "systemd-boot-check: FAIL: $*" >&2
  if [ -n "$pid1" ] && [ -n "${2:-}" ]; then
    echo "--- journalctl -u $2 (last 30 lines)" >&2
    inside journalctl -u "$2" --no-pager -n 30 >&2 || true
  fi
  exit 1
}

# Runs a command in the booted machine, with a clean environment (nothing of the host's).
inside() {
  nsenter -t "$pid1" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb "$@"
}

# Polls CMD… every 0.2 s until it succeeds or SECONDS pass; returns its last status.
wait_for() {
  local limit=$1
  shift
  local end=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

cleanup() {
  local rc=$?
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # an orderly poweroff first; killing the machine's PID 1 ends its whole PID namespace
    [ -n "$pid1" ] && kill -RTMIN+4 "$pid1" 2>/dev/null || true
    if ! wait_for 20 sh -c "! kill -0 $nspawn_pid 2>/dev/null"; then
      [ -n "$pid1" ] && kill -KILL "$pid1" 2>/dev/null || true
      kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  if [ -n "$work" ]; then
    if [ "${HOOKD_KEEP:-0}" = 1 ]; then
      echo "kept $work (machine root: $work/root, console: $work/console.log)"
    else
      rm -rf "$work"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

preflight() {
  [ "$(id -u)" = 0 ] || fail "needs root (debootstrap, systemd-nspawn, nsenter)"
  if ! command -v debootstrap >/dev/null || ! command -v systemd-nspawn >/dev/null; then
    say "installing debootstrap and systemd-container"
    apt-get install -y -qq debootstrap systemd-container >/dev/null ||
      fail "cannot install debootstrap and systemd-container"
  fi
  deb=${1:-$(ls -t "$src"/build/hookd_*.deb 2>/dev/null | head -n 1)}
  [ -n "$deb" ] && [ -f "$deb" ] || fail "no .deb: run make deb, or name one"
  deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
  say "package: $deb"
}

# The cached fresh Debian 12: made once, atomically (a half-made one is never used).
make_cache() {
  if [ -x "$cache/usr/lib/systemd/systemd" ]; then
    say "fresh Debian 12: $cache (cached)"
    return
  fi
  say "debootstrap bookworm into $cache (once; a few minutes)"
  rm -rf "$cache.tmp"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates \
    bookworm "$cache.tmp" "$mirror" >"$cache.log" 2>&1 ||
    fail "debootstrap failed: see $cache.log"
  mv "$cache.tmp" "$cache"
}

# A copy of the cache holding the .deb and its dependencies' archives (downloaded, not
# installed: apt installs them in the booted machine, which has no network).
prepare_copy() {
  work=$(mktemp -d /var/tmp/hookd-check.XXXXXX)
  cp -a --reflink=auto "$cache" "$work/root"
  cp "$deb" "$work/root/root/"
  debname=$(basename "$deb")
  local extra=""
  [ "$check_postgres" = 1 ] && extra=postgresql
  say "downloading the package's dependencies (and $extra) from $mirror"
  systemd-nspawn -q --register=no --keep-unit -D "$work/root" -E DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --download-only /root/$debname $extra" \
    >"$work/download.log" 2>&1 || fail "apt-get --download-only failed: $(tail -n 5 "$work/download.log")"
}

boot() {
  say "booting $machine (systemd-nspawn -b, private network)"
  local t0
  t0=$(date +%s.%N)
  systemd-nspawn -b -q -D "$work/root" --machine "$machine" --register=no --keep-unit \
    --private-network --console=pipe </dev/null >"$work/console.log" 2>&1 &
  nspawn_pid=$!
  # the machine's PID 1 is nspawn's child once that child has become systemd
  wait_for 20 pgrep -x -P "$nspawn_pid" systemd ||
    fail "systemd-nspawn did not boot: $(cat "$work/console.log")"
  pid1=$(pgrep -x -P "$nspawn_pid" systemd | head -n 1)
  wait_for 30 inside test -S /run/systemd/private || fail "systemd in the machine has no bus socket"
  local state
  state=$(timeout 90 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1) || true
  [ "$state" = running ] || fail "the machine is $state: $(inside systemctl --failed --no-legend 2>&1)"
  ok "booted Debian 12 ($(inside systemctl --version | head -n 1)) to running in $(printf %.2f "$(echo "$(date +%s.%N) - $t0" | bc)") s"
  # systemd's debug log names each sd_notify message it receives (READY=1, STOPPING=1)
  inside systemd-analyze log-level debug
}

# unit property
prop() { inside systemctl show -P "$2" "$1"; }

install_deb() {
  say "apt-get install /root/$debname (inside)"
  inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$debname" \
    >"$work/install.log" 2>&1 || fail "apt-get install failed: $(tail -n 15 "$work/install.log")"
  [ "$(inside systemctl is-enabled hookd)" = enabled ] || fail "hookd.service is not enabled at install"
  [ "$(inside systemctl is-enabled hookd-receive || true)" = disabled ] ||
    fail "hookd-receive.service should be installed but not enabled"
  wait_for 10 inside systemctl is-active -q hookd || fail "hookd.service is not active after install" hookd
  ok "apt install: hookd.service enabled and started by postinst (first start, schema created: exec->active $(exec_to_active hookd) ms); hookd-receive.service installed, disabled"
}

# READY=1 came: a Type=notify unit is active only then; systemd's debug log shows the message.
check_ready() {
  local unit=$1 pid
  [ "$(prop "$unit" Type)" = notify ] || fail "$unit is not Type=notify"
  [ "$(inside systemctl is-active "$unit")" = active ] || fail "$unit is not active" "$unit"
  pid=$(prop "$unit" MainPID)
  wait_for 5 sh -c "nsenter -t $pid1 -a journalctl -b -o cat -u $unit | grep -q 'Got notification message from PID $pid (READY=1'" ||
    fail "no READY=1 from $unit (PID $pid) in the journal" "$unit"
}

# The time from exec to active (READY=1) of the unit's last start, as systemd measured it
# (µs timestamps), in ms.
exec_to_active() {
  local unit=$1 exec active
  exec=$(prop "$unit" ExecMainStartTimestampMonotonic)
  active=$(prop "$unit" ActiveEnterTimestampMonotonic)
  echo "scale=1; ($active - $exec) / 1000" | bc
}

# Restart: the time from exec to active of the new process, in ms.
time_to_active() {
  inside systemctl restart "$1" || fail "systemctl restart $1 failed" "$1"
  exec_to_active "$1"
}

# DynamicUser + StateDirectory: MainPID runs as a uid of systemd's dynamic range, named after
# the unit, and owns /var/lib/private/DIR (mode 700) behind the /var/lib/DIR symlink.
check_dynamic_user() {
  local unit=$1 dir=$2 pid uid name owner
  pid=$(prop "$unit" MainPID)
  uid=$(inside awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
  [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || fail "$unit runs as uid $uid, not a dynamic user"
  # its name comes from nss-systemd: libnss-systemd, which the package recommends
  name=$(inside getent passwd "$uid" | cut -d: -f1) || name=""
  [ "$name" = "$unit" ] || fail "uid $uid of $unit is named '$name' (want $unit: libnss-systemd installed?)"
  [ "$(inside readlink "/var/lib/$dir")" = "private/$dir" ] || fail "/var/lib/$dir is not a symlink to private/$dir"
  owner=$(inside stat -c '%u %a' "/var/lib/private/$dir")
  [ "$owner" = "$uid 700" ] || fail "/var/lib/private/$dir is '$owner' (uid mode), want '$uid 700'"
  inside test -s "/var/lib/private/$dir/$3" || fail "no database /var/lib/$dir/$3"
  ok "$unit: runs as dynamic user $name (uid $uid); /var/lib/$dir -> private/$dir, mode 700, holds $3"
}

# The token generated at first start: printed once, however often the unit restarts.
journal_token() {
  local unit=$1 n
  n=$(inside journalctl -u "$unit" -o cat | grep -c '^admin token: ' || true)
  [ "$n" = 1 ] || fail "the admin token appears $n times in journalctl -u $unit, want once" "$unit"
  inside journalctl -u "$unit" -o cat | sed -n 's/^admin token: //p'
}

check_serve() {
  local ms token code
  check_ready hookd
  ms=$(time_to_active hookd)
  check_ready hookd
  ok "hookd.service: Type=notify, active after READY=1, restart exec->active ${ms} ms"
  check_dynamic_user hookd hookd serve.db
  [ "$(inside curl -fsS http://127.0.0.1:8080/healthz)" != "" ] || fail "empty /healthz"
  token=$(journal_token hookd)
  code=$(inside curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/v1/destinations)
  [ "$code" = 401 ] || fail "/v1/destinations without a token answered $code, want 401"
  code=$(inside curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    http://127.0.0.1:8080/v1/destinations)
  [ "$code" = 200 ] || fail "/v1/destinations with the journal's token answered $code, want 200"
  ok "hookd.service: /healthz answers; admin token in the journal once (after a restart); it opens the API (401 without, 200 with)"
}

# Without a secret and a handler the receiver exits 2 (a bad setting): the unit must fail at
# once, naming what is missing, rather than restart until the start limit.
check_unconfigured_receive() {
  ! inside systemctl start hookd-receive 2>/dev/null || fail "hookd-receive started without a secret"
  sleep 3 # longer than RestartSec: a restart would have been scheduled by now
  [ "$(inside systemctl is-active hookd-receive || true)" = failed ] ||
    fail "unconfigured hookd-receive is $(inside systemctl is-active hookd-receive), want failed"
  [ "$(prop hookd-receive NRestarts)" = 0 ] || fail "unconfigured hookd-receive restarted"
  inside journalctl -u hookd-receive -o cat | grep -- '--secret is required' >/dev/null ||
    fail "the journal does not say what the receiver lacks" hookd-receive
  inside systemctl reset-failed hookd-receive
  ok "hookd-receive.service unconfigured: fails at once (exit 2, no restart), the journal names --secret"
}

check_receive() {
  local secret ms token
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  inside sh -c "umask 077 && echo HOOKD_SECRET=$secret > /etc/hookd/receive.env"
  # the handler writes into the unit's state directory, its working directory; it fails
  # for check.fail, which then fails for good at once (a warning in the log)
  inside sh -c 'cat >> /etc/hookd/receive.conf' <<'CONF'
exec = cat > last-webhook.json && test "$WEBHOOK_EVENT" != check.fail
max-attempts = 1
CONF
  inside systemctl enable --now hookd-receive >/dev/null 2>&1 ||
    fail "systemctl enable --now hookd-receive failed" hookd-receive
  check_ready hookd-receive
  ms=$(time_to_active hookd-receive)
  check_ready hookd-receive
  ok "hookd-receive.service: Type=notify, active after READY=1, restart exec->active ${ms} ms"
  check_dynamic_user hookd-receive hookd-receive receive.db
  inside curl -fsS -o /dev/null http://127.0.0.1:9091/healthz || fail "no /healthz on 9091" hookd-receive
  token=$(journal_token hookd-receive)
  [ "$(inside curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9091/webhooks)" = 401 ] ||
    fail "the receiver's admin API answers without a token"
  [ "$(inside curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    http://127.0.0.1:9091/webhooks)" = 200 ] || fail "the receiver's journal token does not open its admin API"
  inside env HOOKD_SECRET="$secret" hookd send http://127.0.0.1:9090/ --event check.ping \
    --data '{"from":"systemd-boot-check"}' >/dev/null || fail "hookd send to the receiver failed" hookd-receive
  wait_for 10 inside grep -q systemd-boot-check /var/lib/private/hookd-receive/last-webhook.json ||
    fail "the --exec handler did not write last-webhook.json" hookd-receive
  ok "hookd-receive.service: /healthz answers; admin token once, opens the admin API (401 without, 200 with); a signed webhook verified, stored, handed to --exec inside the sandbox"
  inside env HOOKD_SECRET="$secret" hookd send http://127.0.0.1:9090/ --event check.fail \
    --data '{}' >/dev/null || fail "hookd send check.fail failed" hookd-receive
  wait_for 10 sh -c "nsenter -t $pid1 -a journalctl -u hookd-receive -p warning -o cat | grep -q 'failed after 1 runs'" ||
    fail "the handler's failure is not in journalctl -u hookd-receive -p warning" hookd-receive
  ! inside journalctl -u hookd-receive -p warning -o cat | grep 'info receive:' >/dev/null ||
    fail "info lines are filed at warning priority or above"
  ok "hookd-receive.service: a failed webhook's warning is filed at warning priority (journalctl -p warning), info lines are not"
}

# An upgrade (the same package again: postinst configure OLD-VERSION) restarts both running
# units onto the new program, and leaves a unit the operator disabled and stopped alone.
check_upgrade() {
  local serve_pid receive_pid
  serve_pid=$(prop hookd MainPID)
  receive_pid=$(prop hookd-receive MainPID)
  reinstall() {
    inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall /root/$debname" \
      >"$work/upgrade.log" 2>&1 || fail "reinstalling the package failed: $(tail -n 10 "$work/upgrade.log")"
  }
  reinstall
  for unit in hookd hookd-receive; do
    inside systemctl is-active -q "$unit" || fail "$unit is not active after an upgrade" "$unit"
  done
  [ "$(prop hookd MainPID)" != "$serve_pid" ] || fail "an upgrade did not restart hookd.service"
  [ "$(prop hookd-receive MainPID)" != "$receive_pid" ] || fail "an upgrade did not restart hookd-receive.service"
  inside systemctl disable --now hookd 2>/dev/null
  reinstall
  ! inside systemctl is-active -q hookd || fail "an upgrade started hookd.service, which was disabled and stopped"
  inside systemctl enable --now hookd 2>/dev/null
  ok "upgrade: both running units restarted onto the new program; a disabled, stopped hookd.service left stopped"
}

# hookd.service on the machine's PostgreSQL through its local socket: the dynamic user
# "hookd" is a PostgreSQL role of that name (peer authentication, no password).
check_postgres() {
  [ "$check_postgres" = 1 ] || return 0
  inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql" >"$work/pg.log" 2>&1 ||
    fail "apt-get install postgresql failed: $(tail -n 10 "$work/pg.log")"
  wait_for 30 inside runuser -u postgres -- psql -qAtc 'select 1' || fail "PostgreSQL did not start"
  inside runuser -u postgres -- createuser hookd
  inside runuser -u postgres -- createdb -O hookd hookd
  inside sed -i 's|^db = .*|db = postgres:///hookd?host=/run/postgresql|' /etc/hookd/serve.conf
  inside systemctl restart hookd || fail "hookd.service does not start on PostgreSQL" hookd
  inside curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || fail "no /healthz on PostgreSQL" hookd
  local tables
  tables=$(inside runuser -u postgres -- psql -qAt hookd -c "select count(*) from pg_tables where tableowner = 'hookd'")
  [ "$tables" -gt 0 ] || fail "no tables owned by hookd in PostgreSQL" hookd
  ok "hookd.service on PostgreSQL (postgres:///hookd?host=/run/postgresql, peer auth as the dynamic user): active, $tables tables"
}

# systemctl stop: STOPPING=1 arrives, the process exits 0, systemd records success.
check_stop() {
  local unit=$1 pid t0 secs
  pid=$(prop "$unit" MainPID)
  t0=$(date +%s.%N)
  inside systemctl stop "$unit" || fail "systemctl stop $unit failed" "$unit"
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  inside journalctl -b -o cat -u "$unit" | grep "Got notification message from PID $pid (STOPPING=1" >/dev/null ||
    fail "no STOPPING=1 from $unit" "$unit"
  [ "$(prop "$unit" Result)" = success ] || fail "$unit stopped with Result=$(prop "$unit" Result)" "$unit"
  [ "$(prop "$unit" ExecMainCode)" = 1 ] && [ "$(prop "$unit" ExecMainStatus)" = 0 ] ||
    fail "$unit's process did not exit 0 (code $(prop "$unit" ExecMainCode), status $(prop "$unit" ExecMainStatus))" "$unit"
  ok "$unit: systemctl stop in $(printf %.2f "$secs") s, STOPPING=1, exit 0, Result=success"
}

# systemd-analyze security's overall exposure (0 = locked down, 10 = none); at most the cap.
check_security() {
  local unit=$1 line score
  line=$(inside systemd-analyze security --no-pager "$unit" | grep 'Overall exposure level')
  score=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
  [ -n "$score" ] || fail "cannot read systemd-analyze security $unit: $line"
  [ "$(echo "$score <= $max_exposure" | bc)" = 1 ] || fail "$unit exposure $score > $max_exposure"
  ok "systemd-analyze security $unit: ${line#*: }"
}

check_remove() {
  inside systemctl start hookd hookd-receive || fail "cannot start the units again"
  inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q hookd" >"$work/purge.log" 2>&1 ||
    fail "apt-get purge hookd failed: $(tail -n 10 "$work/purge.log")"
  for unit in hookd hookd-receive; do
    ! inside systemctl is-active -q "$unit" || fail "$unit still active after purge"
  done
  for dir in hookd hookd-receive private/hookd private/hookd-receive; do
    ! inside test -e "/var/lib/$dir" || fail "/var/lib/$dir still there after purge"
  done
  ok "apt purge: both units stopped, /var/lib/{,private/}hookd{,-receive} removed"
}

preflight "$@"
make_cache
prepare_copy
boot
install_deb
check_serve
check_unconfigured_receive
check_receive
check_upgrade
check_postgres
check_security hookd
check_security hookd-receive
check_stop hookd
check_stop hookd-receive
check_remove

echo
echo "systemd-boot-check: PASS ($debname on Debian 12, systemd $(inside systemctl --version | head -n 1 | cut -d' ' -f2))"
for line in "${summary[@]}"; do echo "  - $line"; done
