#!/usr/bin/env bash
# Start/stop the real database servers that db-plugins' integration tests use,
# all on 127.0.0.1:
#
#   PostgreSQL 15  Debian's cluster 15/main (pg_ctlcluster), port 5432
#   MariaDB        apt-installed if missing, mariadbd run by hand (no systemd), port 3306
#   FerretDB       v1.24.2 (MongoDB wire protocol, SQLite storage), built from
#                  scripts/ferretdb with Go and cached, port 27017
#   pgreplica      a hot standby of that PostgreSQL server: Debian cluster 15/replica made
#                  with pg_basebackup -R, streaming from it, port 5433 (read-only)
#
# Usage:
#   eval "$(scripts/services.sh start)"   # idempotent; prints `export DBP_TEST_*_URL=...`
#   scripts/services.sh env               # the export lines for the servers that are up
#   scripts/services.sh status
#   scripts/services.sh stop              # stops what `start` started; idempotent
#   scripts/services.sh ferretdb-bin      # the cached FerretDB binary's path (built by start), for
#                                         # tests that run private servers of their own
#
# Only the export lines go to stdout; all progress goes to stderr. A preferred
# port that is taken by something else is replaced by the next free one.
# `start` and `stop` need root (as on developer machines and in CI).
#
# Environment:
#   DBP_SERVICES_DIR   state dir (default /tmp/dbp-services): ports, pids, logs
#   DBP_SERVICES       subset to handle (default "postgres mariadb ferretdb pgreplica";
#                      pgreplica needs postgres up)
#   DBP_PG_PORT, DBP_MYSQL_PORT, DBP_MONGO_PORT, DBP_PG_REPLICA_PORT   preferred ports
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${DBP_SERVICES_DIR:-/tmp/dbp-services}
SERVICES=${DBP_SERVICES:-postgres mariadb ferretdb pgreplica}

DB_USER=dbp
DB_PASSWORD=dbp_test_pw
DB_NAME=dbp_test

PG_VERSION=15
PG_CLUSTER=main
PG_CONF_FILE=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d/zz-dbp-tests.conf
# The standby: its cluster, the role it streams as, and the name the primary knows it by.
PG_REPLICA_CLUSTER=replica
PG_REPLICA_CONF_FILE=/etc/postgresql/$PG_VERSION/$PG_REPLICA_CLUSTER/conf.d/zz-dbp-tests.conf
PG_PRIMARY_REPL_CONF=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d/zz-dbp-replication.conf
PG_REPL_USER=dbp_replicator
PG_STANDBY_NAME=dbp_standby

MYSQL_DATADIR=/var/lib/mysql
MYSQL_RUN=$STATE/mariadb # socket, pid file, config and log; owned by mysql
MYSQL_CNF=$MYSQL_RUN/my.cnf

FERRETDB_SRC=$SCRIPT_DIR/ferretdb

log() { printf '[services] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

want() { [[ " $SERVICES " == *" $1 "* ]]; }

need_root() {
	[[ $EUID -eq 0 ]] || die "'$1' needs root (try: sudo -E $0 $1)"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port PREFERRED: PREFERRED if free, else the next free port above it.
pick_port() {
	local p
	for ((p = $1; p < $1 + 50; p++)); do
		if ! port_open "$p"; then
			[[ $p -eq $1 ]] || log "port $1 is taken, using $p"
			echo "$p"
			return
		fi
	done
	die "no free port in $1..$(($1 + 49))"
}

# pid_alive PIDFILE NAME: the pid in PIDFILE runs a program whose command line
# mentions NAME (guards against a stale pid file and a recycled pid).
pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	[[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *"$2"* ]]
}

# wait_pid_exit PID SECONDS: wait for PID to go away; 1 if it is still there.
wait_pid_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -e /proc/$1 ]] || return 0
		sleep 0.1
	done
	return 1
}

# apt_install PKG...: install Debian packages. `apt-get update` runs only
# when needed: when the lists have no candidate, or the install fails (stale
# lists give 404s). apt's output goes to $STATE/apt.log, shown on failure.
apt_install() {
	local aptlog=$STATE/apt.log
	log "installing $* with apt-get (log: $aptlog)"
	if ! _apt_install "$@" >>"$aptlog" 2>&1; then
		tail -n 40 "$aptlog" >&2
		die "apt-get install $* failed (log: $aptlog)"
	fi
}

_apt_install() {
	(
		# Runs as an `if` condition, where set -e does not apply: the exit
		# status is that of the last install.
		export DEBIAN_FRONTEND=noninteractive
		local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
		# Without systemd, a package's postinst may start its service through
		# the init script; we start our servers ourselves, so forbid that.
		if [[ ! -e /usr/sbin/policy-rc.d ]]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		fi
		# (not `apt-cache | grep -q`: with pipefail, grep quitting early
		# would make the pipeline fail)
		if [[ $(apt-cache policy "$1" 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
			"${apt[@]}" update
		fi
		if ! "${apt[@]}" install --no-install-recommends "$@"; then
			echo "install failed; refreshing package lists and retrying"
			"${apt[@]}" update
			"${apt[@]}" install --no-install-recommends "$@"
		fi
	)
}

# ---------------------------------------------------------------- PostgreSQL

pg_status() { # online / down / "" (no such cluster)
	pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $4 }'
}

pg_port() { # the configured port (pg_lsclusters follows conf.d includes)
	pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $3 }'
}

pg_up() {
	[[ $(pg_status) == online* && -s $STATE/postgres.port ]] &&
		pg_isready -q -h 127.0.0.1 -p "$(<"$STATE/postgres.port")"
}

write_pg_conf() {
	cat >"$PG_CONF_FILE" <<EOF
# Written by db-plugins scripts/services.sh: a throwaway test server, so
# durability is traded for speed. Delete this file to undo.
listen_addresses = '127.0.0.1'
port = $1
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	chmod 644 "$PG_CONF_FILE"
}

start_postgres() {
	local port
	if [[ ! -x /usr/lib/postgresql/$PG_VERSION/bin/postgres ]]; then
		apt_install "postgresql-$PG_VERSION"
	fi
	if [[ -z $(pg_status) ]]; then
		log "postgres: creating cluster $PG_VERSION/$PG_CLUSTER"
		pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >&2
	fi

	if [[ $(pg_status) == online* ]]; then
		port=$(pg_port)
		log "postgres: already running on port $port"
		# Apply the speed settings (all reloadable) without a restart.
		write_pg_conf "$port"
		pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" reload >&2
	else
		port=$(pick_port "${DBP_PG_PORT:-5432}")
		write_pg_conf "$port"
		log "postgres: starting cluster $PG_VERSION/$PG_CLUSTER on port $port"
		# 9>&-: the server must not inherit our lock.
		pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start </dev/null >&2 9>&-
		touch "$STATE/postgres.started"
	fi
	echo "$port" >"$STATE/postgres.port"

	local i
	for ((i = 0; i < 300; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$port" && break
		sleep 0.1
	done
	pg_isready -q -h 127.0.0.1 -p "$port" || die "postgres: not answering on port $port"

	# Role and database, idempotently, as the postgres superuser over the
	# Unix socket (peer auth). ALTER ROLE also resets a changed password.
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres >&2 <<EOF
SET password_encryption = 'scram-sha-256';
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER;
  END IF;
END \$\$;
ALTER ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
	# Prove the URL we hand out works: password auth over TCP.
	PGPASSWORD=$DB_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$port" -U "$DB_USER" -d "$DB_NAME" \
		-c 'SELECT 1' >/dev/null || die "postgres: password login as $DB_USER over TCP failed"
	log "postgres: ready on 127.0.0.1:$port"
}

stop_postgres() {
	if [[ -e $STATE/postgres.started ]]; then
		if [[ $(pg_status) == online* ]]; then
			log "postgres: stopping cluster $PG_VERSION/$PG_CLUSTER"
			pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" stop -m fast >&2
		fi
	elif [[ $(pg_status) == online* ]]; then
		log "postgres: running, but not started by this script; left alone"
	fi
	rm -f "$STATE/postgres.started" "$STATE/postgres.port"
}

# ------------------------------------------------------ PostgreSQL standby

pgreplica_field() { # pg_lsclusters column $1 of the standby cluster
	pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_REPLICA_CLUSTER" -v f="$1" '$1 == v && $2 == c { print $f }'
}

pgreplica_up() {
	[[ $(pgreplica_field 4) == online* && -s $STATE/pgreplica.port ]] &&
		pg_isready -q -h 127.0.0.1 -p "$(<"$STATE/pgreplica.port")"
}

# The primary's side, all reloadable (never a restart: other runs may be using it).
# wal_level=replica and max_wal_senders=10 are PostgreSQL 15's defaults, and Debian's
# pg_hba.conf already lets 127.0.0.1 replicate with a password. The standby is named in
# synchronous_standby_names so that a session may opt into read-your-writes on it
# (SET synchronous_commit = remote_apply); sessions that do not (the default here is
# synchronous_commit = off) never wait for it.
prepare_pg_primary() {
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$1" -d postgres >&2 <<SQL
SET password_encryption = 'scram-sha-256';
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_REPL_USER') THEN
    CREATE ROLE $PG_REPL_USER;
  END IF;
END \$\$;
ALTER ROLE $PG_REPL_USER WITH LOGIN REPLICATION PASSWORD '$DB_PASSWORD';
SQL
	local want="synchronous_standby_names = '$PG_STANDBY_NAME'"
	if [[ ! -e $PG_PRIMARY_REPL_CONF || $(<"$PG_PRIMARY_REPL_CONF") != *"$want"* ]]; then
		printf '# Written by db-plugins scripts/services.sh (the pgreplica standby).\n%s\n' "$want" >"$PG_PRIMARY_REPL_CONF"
		chmod 644 "$PG_PRIMARY_REPL_CONF"
		pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" reload >&2
	fi
}

write_pgreplica_conf() {
	cat >"$PG_REPLICA_CONF_FILE" <<CONF
# Written by db-plugins scripts/services.sh: a throwaway hot standby of cluster $PG_CLUSTER.
listen_addresses = '127.0.0.1'
port = $1
hot_standby = on
max_connections = $2
fsync = off
full_page_writes = off
CONF
	chmod 644 "$PG_REPLICA_CONF_FILE"
}

# pgreplica_streaming PRIMARY_PORT: the primary lists the standby among its WAL senders,
# streaming (within 30 s) -- recovering alone is not enough: a standby whose WAL the
# primary has recycled recovers forever without catching up.
pgreplica_streaming() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ $(runuser -u postgres -- psql -X -At -p "$1" -d postgres -c \
			"SELECT count(*) FROM pg_stat_replication WHERE application_name = '$PG_STANDBY_NAME' AND state = 'streaming'") == 1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# launch_pgreplica PRIMARY_PORT: create, clone (if it holds no standby yet) and start the
# standby cluster; prints its port.
launch_pgreplica() {
	local primary=$1 port datadir max i
	port=$(pick_port "${DBP_PG_REPLICA_PORT:-5433}")
	if [[ -z $(pgreplica_field 4) ]]; then
		log "pgreplica: creating cluster $PG_VERSION/$PG_REPLICA_CLUSTER"
		pg_createcluster -p "$port" "$PG_VERSION" "$PG_REPLICA_CLUSTER" >&2
	fi
	datadir=$(pgreplica_field 6)
	if [[ ! -e $datadir/standby.signal ]]; then
		# Replace the cluster's own initdb with a copy of the primary; -R writes
		# standby.signal and primary_conninfo (with our application_name).
		log "pgreplica: pg_basebackup from port $primary into $datadir"
		find "$datadir" -mindepth 1 -delete
		runuser -u postgres -- env PGPASSWORD="$DB_PASSWORD" pg_basebackup -R -X stream -c fast -D "$datadir" \
			-d "host=127.0.0.1 port=$primary user=$PG_REPL_USER application_name=$PG_STANDBY_NAME" >&2 ||
			die "pgreplica: pg_basebackup failed"
	fi
	# A hot standby refuses to start with fewer connections than its primary.
	max=$(runuser -u postgres -- psql -X -At -p "$primary" -d postgres -c 'SHOW max_connections')
	write_pgreplica_conf "$port" "$max"
	log "pgreplica: starting cluster $PG_VERSION/$PG_REPLICA_CLUSTER on port $port"
	pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_REPLICA_CLUSTER" start </dev/null >&2 9>&-
	touch "$STATE/pgreplica.started"
	for ((i = 0; i < 300; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$port" && break
		sleep 0.1
	done
	pg_isready -q -h 127.0.0.1 -p "$port" || die "pgreplica: not answering on port $port"
	echo "$port"
}

start_pgreplica() {
	local primary port attempt
	pg_up || die "pgreplica: the primary (postgres) is not up; start it first"
	primary=$(<"$STATE/postgres.port")
	prepare_pg_primary "$primary"
	for attempt in 1 2; do
		if [[ $(pgreplica_field 4) == online* ]]; then
			port=$(pgreplica_field 3)
			log "pgreplica: running on port $port"
		else
			port=$(launch_pgreplica "$primary")
		fi
		pgreplica_streaming "$primary" && break
		[[ $attempt == 1 ]] || die "pgreplica: port $port does not stream from the primary (log: $(pgreplica_field 7))"
		log "pgreplica: not streaming from the primary (its WAL may be recycled): cloning it again"
		pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_REPLICA_CLUSTER" stop -m fast >&2 || true
		rm -f "$(pgreplica_field 6)/standby.signal"
	done
	echo "$port" >"$STATE/pgreplica.port"
	[[ $(runuser -u postgres -- psql -X -At -p "$port" -d postgres -c 'SELECT pg_is_in_recovery()') == t ]] ||
		die "pgreplica: port $port is not a standby"
	PGPASSWORD=$DB_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$port" -U "$DB_USER" -d "$DB_NAME" \
		-c 'SELECT 1' >/dev/null || die "pgreplica: password login as $DB_USER over TCP failed"
	log "pgreplica: hot standby ready on 127.0.0.1:$port"
}

stop_pgreplica() {
	if [[ -e $STATE/pgreplica.started && $(pgreplica_field 4) == online* ]]; then
		log "pgreplica: stopping cluster $PG_VERSION/$PG_REPLICA_CLUSTER"
		pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_REPLICA_CLUSTER" stop -m fast >&2
	fi
	rm -f "$STATE/pgreplica.started" "$STATE/pgreplica.port"
}

# ------------------------------------------------------------------- MariaDB

mariadbd_bin() { command -v mariadbd || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; }; }

mariadb_up() { pid_alive "$MYSQL_RUN/mysqld.pid" mariadbd && [[ -s $STATE/mariadb.port ]]; }

write_mariadb_cnf() {
	# A config of our own (--defaults-file), so /etc/mysql is not read at all.
	cat >"$MYSQL_CNF" <<EOF
# Written by db-plugins scripts/services.sh: a throwaway test server.
[client]
socket = $MYSQL_RUN/mysqld.sock

[mariadbd]
user = mysql
datadir = $MYSQL_DATADIR
socket = $MYSQL_RUN/mysqld.sock
pid-file = $MYSQL_RUN/mysqld.pid
log-error = $MYSQL_RUN/mariadbd.log
bind-address = 127.0.0.1
port = $1
skip-name-resolve
character-set-server = utf8mb4
max_connections = 300
# Speed over durability.
skip-log-bin
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
innodb_buffer_pool_size = 256M
EOF
}

start_mariadb() {
	local port bin pid
	bin=$(mariadbd_bin) || true
	if [[ -z $bin ]] || ! command -v mariadb >/dev/null; then
		apt_install mariadb-server mariadb-client
		bin=$(mariadbd_bin) || die "mariadb: mariadbd not found after install"
	fi
	mkdir -p "$MYSQL_RUN"
	# mariadbd writes its log-error file as mysql, so the file must be mysql's.
	touch "$MYSQL_RUN/mariadbd.log"
	chown mysql:mysql "$MYSQL_RUN" "$MYSQL_RUN/mariadbd.log"

	if mariadb_up; then
		port=$(<"$STATE/mariadb.port")
		log "mariadb: already running on port $port"
	else
		port=$(pick_port "${DBP_MYSQL_PORT:-3306}")
		write_mariadb_cnf "$port"
		if [[ ! -d $MYSQL_DATADIR/mysql ]]; then
			log "mariadb: initialising $MYSQL_DATADIR"
			mariadb-install-db --defaults-file="$MYSQL_CNF" --auth-root-authentication-method=socket \
				--skip-test-db >>"$MYSQL_RUN/mariadbd.log" 2>&1 ||
				die "mariadb: mariadb-install-db failed (log: $MYSQL_RUN/mariadbd.log)"
		fi
		log "mariadb: starting mariadbd on port $port"
		# setsid: out of the caller's process group, so a Ctrl-C there does
		# not reach it; 9>&-: it must not inherit our lock.
		setsid "$bin" --defaults-file="$MYSQL_CNF" </dev/null >>"$MYSQL_RUN/mariadbd.log" 2>&1 9>&- &
		pid=$!
		touch "$STATE/mariadb.started"
		echo "$port" >"$STATE/mariadb.port"
		local i
		for ((i = 0; i < 600; i++)); do
			mariadb-admin --defaults-file="$MYSQL_CNF" -u root ping >/dev/null 2>&1 && break
			if [[ ! -e /proc/$pid ]]; then
				tail -n 30 "$MYSQL_RUN/mariadbd.log" >&2 || true
				die "mariadb: mariadbd exited (log: $MYSQL_RUN/mariadbd.log)"
			fi
			sleep 0.1
		done
	fi
	mariadb-admin --defaults-file="$MYSQL_CNF" -u root ping >/dev/null 2>&1 ||
		die "mariadb: not answering (log: $MYSQL_RUN/mariadbd.log)"

	# Users for TCP (127.0.0.1; skip-name-resolve) and the socket (localhost),
	# as root over the socket (unix_socket auth). ALL ON *.*: tests create and
	# drop databases.
	mariadb --defaults-file="$MYSQL_CNF" -u root >&2 <<EOF
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
CREATE DATABASE IF NOT EXISTS $DB_NAME CHARACTER SET utf8mb4;
EOF
	mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u "$DB_USER" -p"$DB_PASSWORD" "$DB_NAME" \
		-e 'SELECT 1' >/dev/null || die "mariadb: password login as $DB_USER over TCP failed"
	log "mariadb: ready on 127.0.0.1:$port"
}

stop_mariadb() {
	local pid
	if [[ -e $STATE/mariadb.started ]] && pid_alive "$MYSQL_RUN/mysqld.pid" mariadbd; then
		pid=$(<"$MYSQL_RUN/mysqld.pid")
		log "mariadb: stopping mariadbd (pid $pid)"
		kill -TERM "$pid" # a clean shutdown
		wait_pid_exit "$pid" 60 || {
			log "mariadb: still running after 60s; killing"
			kill -KILL "$pid" 2>/dev/null || true
		}
	fi
	rm -f "$STATE/mariadb.started" "$STATE/mariadb.port"
}

# ------------------------------------------------------------------ FerretDB

ferretdb_version() {
	awk '$1 == "require" && $2 == "github.com/FerretDB/FerretDB" { print $3 }
	     $1 == "github.com/FerretDB/FerretDB" { print $2 }' "$FERRETDB_SRC/go.mod" | head -n 1
}

# The binary is cached per FerretDB version and per hash of our sources, so
# an edit to scripts/ferretdb rebuilds it and nothing else does.
ferretdb_bin() {
	local hash
	hash=$(cat "$FERRETDB_SRC/main.go" "$FERRETDB_SRC/go.mod" "$FERRETDB_SRC/go.sum" | sha256sum | cut -c1-12)
	echo "${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/dbp/ferretdb-$(ferretdb_version)-$hash/ferretdb"
}

build_ferretdb() {
	local bin=$1 go t0
	go=$(command -v go || echo /usr/local/go/bin/go)
	[[ -x $go ]] || die "ferretdb: the Go toolchain is needed to build it (go not found)"
	log "ferretdb: building $(ferretdb_version) into $bin (only when missing)"
	mkdir -p "$(dirname "$bin")"
	t0=$SECONDS
	# -mod=readonly: go.sum is pinned; a mismatch must fail, not rewrite it.
	# GOTOOLCHAIN=local: build with the installed Go, never download one.
	(cd "$FERRETDB_SRC" && GOTOOLCHAIN=local "$go" build -mod=readonly -trimpath -buildvcs=false \
		-ldflags='-s -w' -o "$bin.tmp" .) >&2
	mv -f "$bin.tmp" "$bin"
	log "ferretdb: built in $((SECONDS - t0))s"
	# Drop binaries built from older sources.
	find "$(dirname "$(dirname "$bin")")" -mindepth 1 -maxdepth 1 -name 'ferretdb-*' \
		! -path "$(dirname "$bin")" -exec rm -rf {} +
}

# mongo_ping PORT: a MongoDB `ping` (OP_MSG) with only the Python standard
# library, so no driver is needed; a bare TCP check without python3.
mongo_ping() {
	if ! command -v python3 >/dev/null; then
		port_open "$1"
		return
	fi
	python3 - "$1" <<'EOF' 2>/dev/null
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
body = (b"\x10" + cstr("ping") + struct.pack("<i", 1)
        + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin"))
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
payload = struct.pack("<I", 0) + b"\0" + doc           # flagBits, section kind 0
msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload  # OP_MSG
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(msg)
    head = s.recv(16, socket.MSG_WAITALL)
    reply = s.recv(struct.unpack("<i", head[:4])[0] - 16, socket.MSG_WAITALL)
sys.exit(0 if b"\x01ok\x00" + struct.pack("<d", 1.0) in reply else 1)
EOF
}

ferretdb_up() { pid_alive "$STATE/ferretdb.pid" ferretdb && [[ -s $STATE/ferretdb.port ]]; }

start_ferretdb() {
	local bin port datadir pid
	bin=$(ferretdb_bin)
	if ferretdb_up; then
		port=$(<"$STATE/ferretdb.port")
		log "ferretdb: already running on port $port"
	else
		[[ -x $bin ]] || build_ferretdb "$bin"
		port=$(pick_port "${DBP_MONGO_PORT:-27017}")
		# A fresh, empty SQLite directory every start.
		datadir=$(mktemp -d "${TMPDIR:-/tmp}/dbp-ferretdb.XXXXXX")
		echo "$datadir" >"$STATE/ferretdb.datadir"
		log "ferretdb: starting on port $port, data in $datadir"
		setsid "$bin" -host 127.0.0.1 -port "$port" -data-dir "$datadir" \
			</dev/null >>"$STATE/ferretdb.log" 2>&1 9>&- &
		pid=$!
		echo "$pid" >"$STATE/ferretdb.pid"
		echo "$port" >"$STATE/ferretdb.port"
		local i
		for ((i = 0; i < 300; i++)); do
			mongo_ping "$port" && break
			if [[ ! -e /proc/$pid ]]; then
				tail -n 30 "$STATE/ferretdb.log" >&2 || true
				die "ferretdb: exited (log: $STATE/ferretdb.log)"
			fi
			sleep 0.1
		done
	fi
	mongo_ping "$port" || die "ferretdb: no answer to ping on port $port (log: $STATE/ferretdb.log)"
	log "ferretdb: ready on 127.0.0.1:$port"
}

stop_ferretdb() {
	local pid datadir
	if ferretdb_up; then
		pid=$(<"$STATE/ferretdb.pid")
		log "ferretdb: stopping (pid $pid)"
		kill -TERM "$pid"
		wait_pid_exit "$pid" 15 || kill -KILL "$pid" 2>/dev/null || true
	fi
	if [[ -s $STATE/ferretdb.datadir ]]; then
		datadir=$(<"$STATE/ferretdb.datadir")
		# Only ever remove a directory that start made.
		[[ $(basename "$datadir") == dbp-ferretdb.* ]] && rm -rf -- "$datadir"
	fi
	rm -f "$STATE/ferretdb.pid" "$STATE/ferretdb.port" "$STATE/ferretdb.datadir"
}

# ------------------------------------------------------------------ commands

cmd_env() {
	local p
	if want postgres && pg_up; then
		p=$(<"$STATE/postgres.port")
		echo "export DBP_TEST_POSTGRES_URL=postgresql+psycopg2://$DB_USER:$DB_PASSWORD@127.0.0.1:$p/$DB_NAME"
	fi
	if want pgreplica && pgreplica_up; then
		p=$(<"$STATE/pgreplica.port")
		echo "export DBP_TEST_POSTGRES_REPLICA_URL=postgresql+psycopg2://$DB_USER:$DB_PASSWORD@127.0.0.1:$p/$DB_NAME"
	fi
	if want mariadb && mariadb_up; then
		p=$(<"$STATE/mariadb.port")
		echo "export DBP_TEST_MYSQL_URL=mysql+pymysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$p/$DB_NAME"
	fi
	if want ferretdb && ferretdb_up; then
		p=$(<"$STATE/ferretdb.port")
		echo "export DBP_TEST_MONGO_URL=mongodb://127.0.0.1:$p/$DB_NAME"
	fi
}

cmd_status() {
	local by st
	if want postgres; then
		by=$([[ -e $STATE/postgres.started ]] && echo "started by services.sh" || echo "not started by services.sh")
		if pg_up; then
			echo "postgres: up on 127.0.0.1:$(<"$STATE/postgres.port") ($by)"
		else
			st=$(pg_status || true)
			echo "postgres: ${st:-no cluster $PG_VERSION/$PG_CLUSTER}"
		fi
	fi
	if want pgreplica; then
		if pgreplica_up; then
			echo "pgreplica: up on 127.0.0.1:$(<"$STATE/pgreplica.port") (standby of postgres)"
		else echo "pgreplica: down"; fi
	fi
	if want mariadb; then
		if mariadb_up; then
			echo "mariadb: up on 127.0.0.1:$(<"$STATE/mariadb.port") (pid $(<"$MYSQL_RUN/mysqld.pid"))"
		else echo "mariadb: down"; fi
	fi
	if want ferretdb; then
		if ferretdb_up; then
			echo "ferretdb: up on 127.0.0.1:$(<"$STATE/ferretdb.port") (pid $(<"$STATE/ferretdb.pid"), data $(<"$STATE/ferretdb.datadir"))"
		else echo "ferretdb: down"; fi
	fi
}

# One start/stop at a time (two test runs may call start together).
lock() {
	mkdir -p "$STATE"
	exec 9>"$STATE/.lock"
	flock -w 900 9 || die "could not lock $STATE/.lock"
}

main() {
	case "${1:-}" in
	start)
		need_root start
		lock
		want postgres && start_postgres
		want mariadb && start_mariadb
		want ferretdb && start_ferretdb
		want pgreplica && start_pgreplica
		cmd_env
		;;
	stop)
		need_root stop
		lock
		want ferretdb && stop_ferretdb
		want mariadb && stop_mariadb
		want pgreplica && stop_pgreplica
		want postgres && stop_postgres
		log "stopped"
		;;
	env) cmd_env ;;
	status) cmd_status ;;
	ferretdb-bin) ferretdb_bin ;;
	*)
		echo "usage: $0 start|stop|env|status|ferretdb-bin" >&2
		exit 2
		;;
	esac
}

main "$@"
