#!/usr/bin/env bash
# The real activator binary told to stop (SIGTERM), as in a rolling upgrade:
#   - /readyz fails at once, while the proxy keeps accepting and serving new
#     connections for --drain-delay (endpoints are still converging);
#   - an invocation in flight finishes with 200 even though it outlives the
#     delay and --drain-timeout: the drain allows the longest timeoutSeconds;
#   - after the delay the listener closes; the process exits 0 when done;
#   - every request is in the billing log.
# Then a second activator whose drain deadline comes while work remains:
#   - a request held for a Function at zero is answered 503 + Retry-After;
#   - a request held behind maxConcurrency, forwarded late and still running
#     at the deadline, is answered 504 (never left without an answer);
#   - both are billed (the forwarded one for the time it ran, the held one
#     0); the activator exits 0.
# Usage: drain_test.sh ACTIVATOR_BINARY FN_ECHO_BINARY
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../../tests/integration/lib.sh"
activator=${1:?activator binary}
fnecho=${2:?fn-echo binary}
trap end_bg EXIT

echo_port=$(free_port)
proxy_port=$(free_port)
health_port=$(free_port)
start_bg fn-echo "$fnecho" --address=127.0.0.1 --port="$echo_port" --threads=2
wait_for 10 "fn-echo listens" curl -sf "http://127.0.0.1:$echo_port/healthz"

cat >"$ZS_TEST_TMP/functions.json" <<JSON
{"functions": [{"metadata": {"namespace": "ns", "name": "slow"},
                "spec": {"port": $echo_port, "timeoutSeconds": 20},
                "endpoints": ["127.0.0.1:$echo_port"]}]}
JSON
start_bg activator "$activator" --static-config="$ZS_TEST_TMP/functions.json" \
  --bind-address="127.0.0.1:$proxy_port" --health-probe-bind-address="127.0.0.1:$health_port" \
  --metrics-bind-address=0 --billing-log="$ZS_TEST_TMP/billing.log" \
  --drain-delay=1500ms --drain-timeout=500ms --threads=1
activator_pid=$LAST_PID
wait_for 10 "the activator is ready" curl -sf "http://127.0.0.1:$health_port/readyz"

# An invocation of 3 s: longer than the delay and the drain timeout, within
# the Function's timeoutSeconds.
curl -s -o "$ZS_TEST_TMP/slow.out" -w '%{http_code}' \
  "http://127.0.0.1:$proxy_port/fn/ns/slow/x?delay_ms=3000" >"$ZS_TEST_TMP/slow.code" &
slow_curl=$!
wait_for 5 "the slow invocation is in flight" \
  bash -c "curl -sf http://127.0.0.1:$echo_port/stats | grep -q '\"in_flight\":1'"

kill -TERM "$activator_pid"
stopped_at=$(date +%s%3N)
check "readyz fails at once" \
  wait_for 1 "readyz 503" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$health_port/readyz) == 503 ]]"
check "a new connection during the drain delay is served" \
  bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$proxy_port/fn/ns/slow/y) == 200 ]]"
wait_for 5 "the listener closes after the delay" \
  bash -c "! curl -s -o /dev/null --max-time 1 http://127.0.0.1:$proxy_port/fn/ns/slow/z"
closed_after=$(($(date +%s%3N) - stopped_at))
check "the listener stayed open for the delay (${closed_after} ms >= 1400)" test "$closed_after" -ge 1400

wait "$slow_curl" || true
check "the invocation in flight finished with 200 (got $(cat "$ZS_TEST_TMP/slow.code"))" \
  test "$(cat "$ZS_TEST_TMP/slow.code")" = 200
rc=0
wait "$activator_pid" || rc=$?
check "the activator exited 0 (got $rc)" test "$rc" = 0
check "the slow and the late invocation are billed" \
  test "$(grep -c -e '"path":"/x","code":200' -e '"path":"/y","code":200' "$ZS_TEST_TMP/billing.log")" = 2

# A second activator: drain deadline = the longest timeoutSeconds (3 s), a
# replica slot of one, and a Function at zero.
proxy_port=$(free_port)
health_port=$(free_port)
metrics_port=$(free_port)
cat >"$ZS_TEST_TMP/cut.json" <<JSON
{"functions": [{"metadata": {"namespace": "ns", "name": "busy"},
                "spec": {"port": $echo_port, "timeoutSeconds": 3, "scaling": {"maxConcurrency": 1}},
                "endpoints": ["127.0.0.1:$echo_port"]},
               {"metadata": {"namespace": "ns", "name": "cold"},
                "spec": {"port": $echo_port, "timeoutSeconds": 1, "buffer": {"timeoutSeconds": 60}}}]}
JSON
start_bg activator-cut "$activator" --static-config="$ZS_TEST_TMP/cut.json" \
  --bind-address="127.0.0.1:$proxy_port" --health-probe-bind-address="127.0.0.1:$health_port" \
  --metrics-bind-address="127.0.0.1:$metrics_port" --billing-log="$ZS_TEST_TMP/cut-billing.log" \
  --drain-delay=100ms --drain-timeout=500ms --threads=1
activator_pid=$LAST_PID
wait_for 10 "the second activator is ready" curl -sf "http://127.0.0.1:$health_port/readyz"
# The first holds the slot for 2 s; the second waits behind it, then runs
# 2.9 s: it would end past the deadline (SIGTERM + 0.1 s + 3 s).
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$proxy_port/fn/ns/busy/first?delay_ms=2000" \
  >"$ZS_TEST_TMP/first.code" &
first_curl=$!
wait_for 5 "the first invocation is in flight" \
  bash -c "curl -sf http://127.0.0.1:$echo_port/stats | grep -q '\"in_flight\":1'"
curl -s -D "$ZS_TEST_TMP/second.head" -o "$ZS_TEST_TMP/second.body" -w '%{http_code}' \
  "http://127.0.0.1:$proxy_port/fn/ns/busy/second?delay_ms=2900" >"$ZS_TEST_TMP/second.code" &
second_curl=$!
curl -s -D "$ZS_TEST_TMP/cold.head" -o "$ZS_TEST_TMP/cold.body" -w '%{http_code}' \
  "http://127.0.0.1:$proxy_port/fn/ns/cold/" >"$ZS_TEST_TMP/cold.code" &
cold_curl=$!
two_queued() { [[ $(metric_sum "127.0.0.1:$metrics_port" zeroscale_requests_queued) == 2 ]]; }
wait_for 5 "the second and the cold request are held" two_queued
kill -TERM "$activator_pid"
wait "$first_curl" "$second_curl" "$cold_curl" || true
check "the first invocation finished before the deadline (got $(cat "$ZS_TEST_TMP/first.code"))" \
  test "$(cat "$ZS_TEST_TMP/first.code")" = 200
check "the late invocation cut at the deadline got 504 (got $(cat "$ZS_TEST_TMP/second.code"))" \
  test "$(cat "$ZS_TEST_TMP/second.code")" = 504
check "its body says why" grep -q '"activator shut down before the function answered"' "$ZS_TEST_TMP/second.body"
check "the held request got 503 (got $(cat "$ZS_TEST_TMP/cold.code"))" test "$(cat "$ZS_TEST_TMP/cold.code")" = 503
check "with Retry-After" grep -qi '^retry-after: 1' "$ZS_TEST_TMP/cold.head"
rc=0
wait "$activator_pid" || rc=$?
check "the second activator exited 0 (got $rc)" test "$rc" = 0
check "the cut invocation is billed for the time it ran" \
  grep -Eq '"path":"/second","code":504,.*"billed_ms":[1-9][0-9]{2,},' "$ZS_TEST_TMP/cut-billing.log"
check "the held request is billed 0" grep -q '"path":"/","code":503,.*"billed_ms":0,' "$ZS_TEST_TMP/cut-billing.log"
check "three billing lines" test "$(wc -l <"$ZS_TEST_TMP/cut-billing.log")" = 3
finish
