#!/bin/sh
# The server alone at the map bench's load: convoy-server (release) with 500 simulated trucks at
# 4 position reports a second each, no client, for 20 s after 5 s of warm-up. Prints the events
# appended per second (/api/stats latest_event_id) and the server's CPU (utime + stime from
# /proc) for each binary given, one after the other, with the load average.
# Usage: bench/producer_500x4.sh BIN [BIN...]
set -e
port=18431
for bin in "$@"; do
  "$bin" --addr 127.0.0.2:$port --dist /nonexistent --trucks 500 --rate 4 >/dev/null 2>&1 &
  pid=$!
  sleep 5
  id0=$(curl -s http://127.0.0.2:$port/api/stats | sed 's/.*"latest_event_id":\([0-9]*\).*/\1/')
  cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat)
  sleep 20
  id1=$(curl -s http://127.0.0.2:$port/api/stats | sed 's/.*"latest_event_id":\([0-9]*\).*/\1/')
  cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat)
  load=$(cut -d' ' -f1 /proc/loadavg)
  kill $pid; wait $pid 2>/dev/null || true
  echo "$bin: $(( (id1 - id0) / 20 )) events/s appended, CPU $(( (cpu1 - cpu0) * 100 / 100 / 20 )) % of a core, load avg $load"
  port=$((port + 1))
done
