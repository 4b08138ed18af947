# shellcheck shell=bash
# A real RabbitMQ (Debian's rabbitmq-server) for the tests that need one, started on demand by
# `harness.sh start-rabbitmq DIR` rather than with every harness: most tests never use it.
# Sourced by harness.sh after common.sh, tls.sh and postgres.sh; runs as the PostgreSQL test
# user (as_pg), under DIR/rabbitmq, with its env in DIR/rabbitmq.env.
#
# Every socket stays on loopback: AMQP, AMQPS, the Erlang distribution port and an epmd of its
# own (the node would otherwise start a shared one on all interfaces, port 4369).

rabbitmq_root() { printf '%s/rabbitmq' "$DIR"; }
rabbitmq_env() { printf '%s/rabbitmq.env' "$DIR"; }

# The value of KEY in DIR/rabbitmq.env, empty when absent.
rabbitmq_env_value() {
  if [[ -f "$(rabbitmq_env)" ]]; then sed -n "s/^$1=//p" "$(rabbitmq_env)"; fi
}

cmd_start_rabbitmq() {
  if pid_alive "$(rabbitmq_env_value RABBITMQ_PID)"; then
    log "RabbitMQ already running (pid $(rabbitmq_env_value RABBITMQ_PID)); env in $(rabbitmq_env)"
    return 0
  fi
  stop_rabbitmq  # what a failed or killed start left
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] ||
    die "rabbitmq-server is not installed: run scripts/install-deps.sh"
  local t0 root amqp_port amqps_port dist_port epmd_port user password
  t0=$(now)
  root="$(rabbitmq_root)"
  read -r amqp_port amqps_port dist_port epmd_port < <(free_ports 4)
  user="harness-$(random_hex 4)" password="$(random_hex)"
  ensure_pg_os_user
  mkdir -p "$root"
  if [[ -n "$PG_OS_USER" ]]; then chown "$PG_OS_USER" "$root"; fi
  # The node's copy of the key: it belongs to the node's user, unreadable to others.
  as_pg tee "$root/server.key" <"$DIR/tls/server.key" >/dev/null
  as_pg chmod 600 "$root/server.key"
  as_pg tee "$root/rabbitmq.conf" >/dev/null <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp_port
listeners.ssl.1 = 127.0.0.1:$amqps_port
ssl_options.cacertfile = $DIR/tls/ca.crt
ssl_options.certfile = $DIR/tls/server.crt
ssl_options.keyfile = $root/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
default_user = $user
default_pass = $password
log.console = false
log.file.level = info
EOF
  as_pg tee "$root/enabled_plugins" >/dev/null <<<'[].'
  # epmd in the foreground of its own process, so that its pid is known and stop ends it; up
  # before the node, which would otherwise start a daemon of its own.
  # Not through as_pg: a backgrounded function is a subshell, and $! would name it, not runuser.
  local as_user=()
  if [[ -n "$PG_OS_USER" ]]; then as_user=(runuser -u "$PG_OS_USER" --); fi
  "${as_user[@]}" env ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$epmd_port" >"$root/epmd.out" 2>&1 </dev/null &
  local epmd_pid=$!
  # Written now, so that stop finds epmd whatever fails next; restart-rabbitmq reads the rest.
  cat >"$(rabbitmq_env)" <<EOF
RABBITMQ_HOST=127.0.0.1
RABBITMQ_PORT=$amqp_port
RABBITMQ_TLS_PORT=$amqps_port
RABBITMQ_USER=$user
RABBITMQ_PASSWORD=$password
RABBITMQ_PID=0
RABBITMQ_EPMD_PID=$epmd_pid
RABBITMQ_NODENAME=harness-$(random_hex 4)@localhost
RABBITMQ_DIST_PORT=$dist_port
RABBITMQ_EPMD_PORT=$epmd_port
EOF
  local deadline=$(($(now) + START_TIMEOUT))
  until port_open 127.0.0.1 "$epmd_port"; do
    pid_alive "$epmd_pid" || die "epmd exited while starting; see $root/epmd.out"
    (($(now) < deadline)) || die "epmd did not listen within ${START_TIMEOUT}s"
    sleep 0.2
  done
  launch_rabbitmq_node
  log "RabbitMQ 127.0.0.1:$amqp_port (AMQPS $amqps_port, pid $(rabbitmq_env_value RABBITMQ_PID))" \
      "started in $(($(now) - t0))s; env in $(rabbitmq_env)"
}

# Starts the node of DIR/rabbitmq.env (its name, ports and files) and waits for its listeners;
# records its pid there.
launch_rabbitmq_node() {
  local root amqp_port amqps_port
  root="$(rabbitmq_root)"
  amqp_port="$(rabbitmq_env_value RABBITMQ_PORT)" amqps_port="$(rabbitmq_env_value RABBITMQ_TLS_PORT)"
  local rabbit_env=(env HOME="$root" RABBITMQ_NODENAME="$(rabbitmq_env_value RABBITMQ_NODENAME)"
    RABBITMQ_CONFIG_FILE="$root/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$root/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$root/mnesia" RABBITMQ_LOG_BASE="$root/log" RABBITMQ_PID_FILE="$root/node.pid"
    RABBITMQ_DIST_PORT="$(rabbitmq_env_value RABBITMQ_DIST_PORT)"
    ERL_EPMD_PORT="$(rabbitmq_env_value RABBITMQ_EPMD_PORT)" ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
  local as_user=()
  if [[ -n "$PG_OS_USER" ]]; then as_user=(runuser -u "$PG_OS_USER" --); fi
  rm -f "$root/node.pid"
  "${as_user[@]}" setsid "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server >>"$root/server.out" 2>&1 </dev/null &
  local launcher=$!
  sed -i "s/^RABBITMQ_PID=.*/RABBITMQ_PID=$launcher/" "$(rabbitmq_env)"
  local deadline=$(($(now) + START_TIMEOUT))
  until port_open 127.0.0.1 "$amqp_port" && port_open 127.0.0.1 "$amqps_port"; do
    pid_alive "$launcher" || die "RabbitMQ exited while starting; see $root/server.out and $root/log"
    (($(now) < deadline)) || die "RabbitMQ did not listen within ${START_TIMEOUT}s; see $root/log"
    sleep 0.5
  done
  # The node's own pid: the launcher is runuser's (as root) or the start script's.
  local node_pid
  node_pid="$(cat "$root/node.pid" 2>/dev/null || true)"
  if pid_alive "$node_pid"; then sed -i "s/^RABBITMQ_PID=.*/RABBITMQ_PID=$node_pid/" "$(rabbitmq_env)"; fi
}

# Stops the node (SIGTERM: a clean shutdown) and starts it again with the same name, ports,
# users and data: durable queues and their persistent messages survive, connections do not.
cmd_restart_rabbitmq() {
  local t0 pid
  t0=$(now)
  pid="$(rabbitmq_env_value RABBITMQ_PID)"
  pid_alive "$pid" || die "RabbitMQ is not running; start it with start-rabbitmq"
  kill -TERM "$pid"
  local deadline=$(($(now) + STOP_TIMEOUT))
  while pid_alive "$pid" && (($(now) < deadline)); do sleep 0.2; done
  if pid_alive "$pid"; then die "RabbitMQ (pid $pid) did not stop within ${STOP_TIMEOUT}s"; fi
  launch_rabbitmq_node
  log "RabbitMQ restarted in $(($(now) - t0))s (pid $(rabbitmq_env_value RABBITMQ_PID))"
}

# Stops the node and its epmd by their recorded pids and removes their files; ok when stopped.
stop_rabbitmq() {
  local pid
  for pid in "$(rabbitmq_env_value RABBITMQ_PID)" "$(cat "$(rabbitmq_root)/node.pid" 2>/dev/null || true)" \
             "$(rabbitmq_env_value RABBITMQ_EPMD_PID)"; do
    pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(($(now) + STOP_TIMEOUT))
    while pid_alive "$pid" && (($(now) < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$(rabbitmq_root)" "$(rabbitmq_env)"
}
