#!/usr/bin/env bash
# End-to-end check of the Vagrant cluster, run on the host from vagrant/ after `vagrant up`:
#   1. the CVIP answers from the client VM, and requests spread over the nodes;
#   2. the director VM is halted (`vagrant halt`; --force pulls the plug instead): the CVIP
#      answers again, and the gap the client saw is printed;
#   3. a weight change (`cvipctl port-weight set ... --weight 0 --node N`) takes effect;
#   4. `ssi-exec --origin A` on node B homes a listening socket on node A.
# It restarts the halted director at the end (--keep-halted leaves it off).
#
#   ./test.sh [--force] [--keep-halted] [--requests 30]
set -euo pipefail
cd "$(dirname "$0")"

force=0
keep_halted=0
requests=30
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1; shift ;;
    --keep-halted) keep_halted=1; shift ;;
    --requests) requests=$2; shift 2 ;;
    *) echo "usage: $0 [--force] [--keep-halted] [--requests N]" >&2; exit 2 ;;
  esac
done

NODES=${SSINET_NODES:-3}
CVIP=${SSINET_CVIP:-192.168.200.100}
failures=0
started=$(date +%s)

step() { printf '\n=== %s (t+%ss)\n' "$*" "$(($(date +%s) - started))"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# on MACHINE COMMAND: runs COMMAND in a VM and prints its output without vagrant's CRs and
# without vagrant's own messages, which go to stdout too (for node1: "You assigned a static IP
# ending in ".1"..." on every command, which would break the JSON that leader_from parses).
on() { vagrant ssh "$1" -c "$2" -- -o LogLevel=ERROR 2>/dev/null | tr -d '\r' | sed '/^==> [^ ]*: /d'; }

# spread N: N requests to the CVIP from the client, one new connection each; prints
# "nodeX count" lines (and "timeout count" for requests nobody answered).
spread() {
  on client "for i in \$(seq $1); do curl -s --max-time 2 http://$CVIP/ || echo timeout; done" |
    sort | uniq -c | awk '{ print $2, $1 }'
}

# leader_from NODE: the director as NODE's agent sees it (empty when it has none).
leader_from() {
  on "node$1" "sudo cvipctl --json status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("leader") or "")' 2>/dev/null || true
}

step "1. the CVIP $CVIP answers and spreads"
director=""
for attempt in $(seq 60); do
  director=$(leader_from 1)
  [ -n "$director" ] && break
  sleep 2
done
[ -n "$director" ] || { fail "no leader after 120 s (vagrant ssh node1 -c 'sudo cvipctl status')"; exit 1; }
echo "director: node$director"
counts=$(spread "$requests")
echo "$counts"
answered=$(echo "$counts" | grep -c '^node' || true)
if [ "$answered" -eq "$NODES" ] && ! echo "$counts" | grep -q '^timeout'; then
  pass "all $NODES nodes answered the CVIP"
elif [ "$answered" -ge 1 ]; then
  fail "only $answered of $NODES nodes answered"
else
  fail "the CVIP did not answer"
fi

step "2. failover: halting the director node$director"
# The client probes every 100 ms for up to 180 s and logs "epoch-ms ok|fail"; the gap is the
# time between the last answer before the halt and the first one after.
on client "rm -f /tmp/probe.log; nohup sh -c 'end=\$((\$(date +%s) + 180)); while [ \$(date +%s) -lt \$end ]; do if curl -s -o /dev/null --max-time 0.5 http://$CVIP/; then r=ok; else r=fail; fi; echo \"\$(date +%s%3N) \$r\"; sleep 0.1; done' >/tmp/probe.log 2>&1 </dev/null & echo \$! >/tmp/probe.pid" >/dev/null
sleep 3
halted_at=$(date +%s%3N)
if [ "$force" = 1 ]; then vagrant halt --force "node$director"; else vagrant halt "node$director"; fi
echo "halt took $(($(date +%s%3N) - halted_at)) ms"
other=1
[ "$director" = 1 ] && other=2
new_director=""
for attempt in $(seq 60); do
  new_director=$(leader_from "$other")
  [ -n "$new_director" ] && [ "$new_director" != "$director" ] && break
  sleep 2
done
echo "new director: node${new_director:-none}"
# Wait for the CVIP to answer again, then read the probe log.
for attempt in $(seq 60); do
  on client "curl -s --max-time 1 http://$CVIP/" | grep -q '^node' && break
  sleep 2
done
sleep 2
gap=$(on client "cat /tmp/probe.log" | awk '
  $2 == "ok" && seen_fail { print $1 - last_ok; exit }
  $2 == "ok" { last_ok = $1 }
  $2 == "fail" && last_ok { seen_fail = 1 }
  END { if (!seen_fail) print 0 }')
on client 'kill "$(cat /tmp/probe.pid)" 2>/dev/null || true' >/dev/null
if [ -n "$new_director" ] && [ "$new_director" != "$director" ]; then
  pass "node$new_director took over as director"
else
  fail "no new director after halting node$director"
fi
if on client "curl -s --max-time 2 http://$CVIP/" | grep -q '^node'; then
  pass "the CVIP answers again; client-side gap: ${gap} ms (probe every 100 ms, 500 ms timeout)"
else
  fail "the CVIP does not answer after the failover"
fi
echo "$(spread "$requests")"

step "3. weight change: node$NODES gets weight 0 on port 80"
alive=$other
on "node$alive" "sudo cvipctl port-weight set --start-port 80 --weight 0 --node $NODES" || true
sleep 2
counts=$(spread "$requests")
echo "$counts"
if ! echo "$counts" | grep -q "^node$NODES " && echo "$counts" | grep -q '^node'; then
  pass "node$NODES gets no new connections at weight 0"
else
  fail "node$NODES still answered at weight 0"
fi
on "node$alive" "sudo cvipctl port-weight del --start-port 80 --node $NODES" || true
sleep 2
if spread "$requests" | grep -q "^node$NODES "; then
  pass "node$NODES serves again once its override is removed"
else
  fail "node$NODES did not come back after removing its override"
fi

step "4. ssi-exec: a socket homed on another node"
origin=$alive
runner=$NODES
[ "$runner" = "$origin" ] && runner=1
if ! on "node$runner" "command -v ssi-exec" | grep -q ssi-exec; then
  fail "ssi-exec is not installed on node$runner (crates/rsock not built?)"
else
  on "node$runner" "sudo nohup timeout 20 ssi-exec --origin $origin -- python3 -c 'import socket,time; s=socket.socket(); s.bind((\"0.0.0.0\", 8181)); s.listen(); time.sleep(15)' >/tmp/ssi-exec.log 2>&1 </dev/null &" >/dev/null
  sleep 4
  on_origin=$(on "node$origin" "ss -Hltn 'sport = :8181'" | wc -l)
  on_runner=$(on "node$runner" "ss -Hltn 'sport = :8181'" | wc -l)
  if [ "$on_origin" -ge 1 ] && [ "$on_runner" -eq 0 ]; then
    pass "a listener started on node$runner with --origin $origin lives on node$origin"
  else
    fail "port 8181: $on_origin listener(s) on node$origin, $on_runner on node$runner ($(on "node$runner" "cat /tmp/ssi-exec.log"))"
  fi
fi

if [ "$keep_halted" = 0 ]; then
  step "restarting node$director"
  vagrant up "node$director" --no-provision >/dev/null && echo "node$director is up again"
fi

step "done: $failures failure(s), $(($(date +%s) - started)) s"
[ "$failures" -eq 0 ]
