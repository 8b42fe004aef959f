# Start the server with its password in a config file, never on the command line, where
# /proc/*/cmdline and `ps` would show it. The file is made at each start from the Secret mounted
# at $REDIS_PASSWORD_FILE, in /tmp (memory-backed, in the pod only); the flags follow it.
# (TMPDIR moves it, for the tests that run this script outside a container.)
set -eu
umask 077
conf="${TMPDIR:-/tmp}/redis-auth.conf"
: >"$conf"
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  password="$(cat "$REDIS_PASSWORD_FILE")" # a named file that cannot be read stops the start
  if [ -n "$password" ]; then # empty (compose without REDIS_PASSWORD): no password
    # One quoted redis.conf string: backslashes and double quotes escaped.
    printf 'requirepass "%s"\n' "$(printf '%s' "$password" | sed 's/[\\"]/\\&/g')" >"$conf"
  fi
fi
exec "$(command -v valkey-server || command -v redis-server)" "$conf" "$@"
