# $1 is "ready" (only PONG passes) or "alive" (LOADING passes too: a server reading its
# append-only file after a restart is alive, and killing it would only start the load again).
if [ -n "${REDIS_PASSWORD_FILE:-}" ] && [ -s "$REDIS_PASSWORD_FILE" ]; then
  REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"
  export REDISCLI_AUTH
fi
reply="$("$(command -v valkey-cli || command -v redis-cli)" -h 127.0.0.1 -p 6379 ping 2>&1)"
case "$reply" in
  PONG) exit 0 ;;
  LOADING*) [ "$1" = alive ] && exit 0 ;;
esac
echo "$reply"
exit 1
