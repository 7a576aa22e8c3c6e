#!/bin/bash
# healthcheck PORT PATH: exit 0 when http://127.0.0.1:PORT/PATH answers 200. Bash's
# /dev/tcp keeps curl (and its libraries) out of the runtime image.
set -eu
port=${1:?usage: healthcheck PORT PATH}
path=${2:-/health}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$path" "$port" >&3
IFS= read -r -t 5 status <&3
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "GET $path: ${status:-no answer}" >&2; exit 1 ;;
esac
