#!/usr/bin/env bash
# The examples of examples/ end to end on the local cluster's real node: each
# Function as containers of its image (zeroscale/example-<name>:dev, from
# hack/node-images.sh), applied from its own examples/<name>/function.yaml
# with the test's changes (an idle time of a few seconds, the address of the
# test's Redis, a minute schedule); controller, activator (billing log) and
# zeroscale-triggers on the host. A redis-server in the cluster's network
# namespace, on the node IP, is the database of those that keep state in
# Redis: pods reach it through their gateway, host processes through the
# host route.
#   - chatbot: from zero, a text about holidays gets the holidays of the
#     mounted ConfigMap, anything else the help line;
#   - judge: a burst of submissions from zero (right, wrong, an infinite loop,
#     a crash) gets each its right verdict; no replica ever ran two at once
#     (each submission's own start/finish in its pod, and the activator's
#     billing lines, never overlap per pod), and the burst scaled it out;
#     the verdicts are in the pods' logs;
#   - vending: a burst of purchases from zero sells exactly the stock (200),
#     the rest are sold out (409), an unknown item is 400, the stock in Redis
#     is 0;
#   - backup: its schedule fires (a minute cron, the trigger clock ten times
#     faster), the tick's backup file in the pod holds one line per key of
#     the database, and restoring it gives the same values;
#   - stream: entries added to a Redis stream are each one invocation with
#     the entry as body; the running totals in Redis are right, every entry
#     is acknowledged, and a poison entry (422) is dead-lettered after
#     maxAttempts with the error;
#   - for every example: the billing lines show each invocation (the
#     triggered ones with client_request_id trigger-...), none dropped, and
#     the Function is back at zero replicas with its pods gone.
# Usage: examples_test.sh TRIGGERS CONTROLLER ACTIVATOR
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
triggers_bin=${1:?triggers binary}
controller_bin=${2:?controller binary}
activator_bin=${3:?activator binary}
ns=zs-examples-$$
idle=6     # scaleToZeroAfterSeconds of every example here
scale=10   # the trigger component's schedule clock: a minute every 6 s
test_start_ms=$(date +%s%3N)
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

# --- Redis, in the cluster netns on the node IP ----------------------------------
netns_port_free() { [[ -z $(ip netns exec "$ZS_NETNS" ss -tanH "sport = :$1") ]]; }
redis_port=$(free_port)
until netns_port_free "$redis_port"; do redis_port=$(free_port); done
redis_addr=$ZS_ADVERTISE_IP:$redis_port
start_bg redis ip netns exec "$ZS_NETNS" redis-server --bind "$ZS_ADVERTISE_IP" --port "$redis_port" \
  --save '' --appendonly no --protected-mode no --dir "$ZS_TEST_TMP"
rcli() { redis-cli -h "$ZS_ADVERTISE_IP" -p "$redis_port" "$@"; }
wait_for 10 "redis-server answers on $redis_addr" rcli ping

# --- zeroscale on the host ---------------------------------------------------------
start_zeroscale "$ns" "$controller_bin" "$activator_bin"
tm_port=$(free_port)
start_bg triggers "$triggers_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --metrics-bind-address "127.0.0.1:$tm_port" --health-probe-bind-address 127.0.0.1:0 \
  --activator-url "http://127.0.0.1:$proxy_port" \
  --testing-time-scale "$scale" --testing-time-origin "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
url=http://127.0.0.1:$proxy_port/fn/$ns
routes() { [[ $(curl -s -o /dev/null -w '%{http_code}' -m 1 "$url/nope/") == 404 ]]; }
wait_for 20 "activator routes" routes

# example NAME [SED-EXPRESSION...]: examples/NAME/function.yaml with the
# test's idle time and Redis address, and the given edits.
example() {
  local name=$1 expr
  shift
  local -a edits=(-e "s/scaleToZeroAfterSeconds: [0-9]*/scaleToZeroAfterSeconds: $idle/"
    -e "s/redis\.default\.svc:6379/$redis_addr/g")
  for expr in "$@"; do edits+=(-e "$expr"); done
  sed "${edits[@]}" "$ZS_ROOT/examples/$name/function.yaml"
}
# apply_example NAME [SED-EXPRESSION...]: applies it and waits until the
# Function is Ready at zero.
apply_example() {
  example "$@" | kubectl apply -n "$ns" -f - >/dev/null
  wait_for 30 "$1: Function Ready at zero" ready_at_zero "$1"
}
ready_at_zero() {
  [[ $(kubectl get function "$1" -n "$ns" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.desiredReplicas}') == True/0 ]]
}
starts_with() { [[ $1 == "$2"* ]]; }
contains() { [[ $1 == *"$2"* ]]; }
# The billing lines of one Function, as compact JSON, in order of arrival:
# the file keeps the order invocations ended in only per activator thread
# (docs/metrics-and-billing.md), so a cold start answered on one thread can
# be written after a later request's line from the other.
billed() { jq -c --arg f "$1" 'select(.function == $f)' "$billing" 2>/dev/null | jq -s -c 'sort_by(.timestamp) | .[]' || true; }
# billed_at_least NAME N: the activator writes a line once the response is
# sent, so a test that just got its answer polls for it.
billed_at_least() { (($(billed "$1" | wc -l) >= $2)); }
# post PATH JSON OUT: POST through the activator; the body goes to OUT, the
# status code to stdout.
post() { curl -s -m 120 -o "$3" -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' -d "$2" "$url/$1"; }

# --- chat bot -------------------------------------------------------------------------
say "chat bot"
apply_example chatbot
t0=$(date +%s%3N)
code=$(post chatbot/message '{"text": "Any HOLIDAYS coming up?"}' "$ZS_TEST_TMP/chat1.json")
check "from zero, a text about holidays is answered 200 ($(($(date +%s%3N) - t0)) ms)" [ "$code" = 200 ]
check "the holidays come from the mounted ConfigMap" [ "$(jq -r .source "$ZS_TEST_TMP/chat1.json")" = /etc/chatbot/holidays ]
check "the answer lists the ConfigMap's five holidays" \
  [ "$(jq -r '[.holidays[].name] | sort | join(",")' "$ZS_TEST_TMP/chat1.json")" = "Armistice Day,Bastille Day,Christmas Day,Labour Day,New Year's Day" ]
code=$(post chatbot/message '{"text": "hello"}' "$ZS_TEST_TMP/chat2.json")
check "anything else gets the help line" \
  [ "$code/$(jq -r '.reply | test("holidays")' "$ZS_TEST_TMP/chat2.json")/$(jq -r 'has("holidays")' "$ZS_TEST_TMP/chat2.json")" = 200/true/false ]
code=$(post chatbot/message 'not json' "$ZS_TEST_TMP/chat3.json")
check "a body that is not a message is 400" [ "$code" = 400 ]
wait_for 5 "chatbot: three billing lines" billed_at_least chatbot 3
check "billed: three invocations, the first a cold start" \
  [ "$(billed chatbot | jq -s -r '[length, .[0].cold_start, ([.[].code] | join(","))] | join(" ")')" = "3 true 200,200,400" ]

# --- vending machine ------------------------------------------------------------------
say "vending machine: 3 colas in stock, 10 buyers at once from zero"
apply_example vending 's/cola=10/cola=3/'
pids=()
for i in $(seq 10); do
  post vending/purchase '{"item": "cola"}' "$ZS_TEST_TMP/vend.$i.json" >"$ZS_TEST_TMP/vend.$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
codes=$(cat "$ZS_TEST_TMP"/vend.*.code | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
check "exactly the stock is sold, the rest are sold out ($codes)" \
  [ "$(grep -lx 200 "$ZS_TEST_TMP"/vend.*.code | wc -l)/$(grep -lx 409 "$ZS_TEST_TMP"/vend.*.code | wc -l)" = 3/7 ]
receipts=$(grep -lx 200 "$ZS_TEST_TMP"/vend.*.code | while read -r f; do jq -r .receipt "${f%.code}.json"; done | sort -u | wc -l)
check "three different receipts" [ "$receipts" = 3 ]
code=$(post vending/purchase '{"item": "beer"}' "$ZS_TEST_TMP/vend.beer.json")
check "an unknown item is 400" [ "$code" = 400 ]
stock=$(curl -s -m 30 "$url/vending/stock")
check "GET /stock: no cola left, the water untouched ($stock)" [ "$(jq -r '"\(.cola.left) \(.water.left)"' <<<"$stock")" = "0 10" ]
check "Redis holds the stock: cola 0" [ "$(rcli HGET vending:stock cola)" = 0 ]
wait_for 5 "vending: twelve billing lines" billed_at_least vending 12
check "billed: 12 invocations (3 sold, 7 sold out, 1 unknown, 1 stock)" \
  [ "$(billed vending | jq -s -r '[.[].code] | group_by(.) | map("\(.[0])×\(length)") | join(" ")')" = "200×4 400×1 409×7" ]

# --- online judge ---------------------------------------------------------------------
say "judge: a burst of 8 submissions from zero, maxConcurrency 1"
apply_example judge
# expected verdict | problem | POSIX sh source
# shellcheck disable=SC2016  # the sources are for the judge's sh, not this one
submissions=(
  'AC|sum|while read -r a b; do echo $((a + b)); done'
  'AC|upper|tr a-z A-Z'
  'AC|sum|while read -r a b; do printf "%d\n" "$((a + b))"; done'
  'WA|sum|echo 42'
  'WA|upper|cat'
  'TLE|sum|while :; do :; done'
  'RE|sum|exit 3'
  'RE|upper|read -r line; echo "${line^^}"'
)
# The most replicas the judge's Deployment asks for during the burst.
(
  max=0
  while [[ ! -f $ZS_TEST_TMP/judge.done ]]; do
    r=$(kubectl get deployment judge -n "$ns" -o jsonpath='{.spec.replicas}' 2>/dev/null || true)
    ((${r:-0} > max)) && max=$r && echo "$max" >"$ZS_TEST_TMP/judge.max_replicas"
    sleep 0.2
  done
) &
watcher=$!
pids=()
for i in "${!submissions[@]}"; do
  IFS='|' read -r _ problem source <<<"${submissions[$i]}"
  body=$(jq -cn --arg p "$problem" --arg s "$source" '{problem: $p, source: $s}')
  post judge/submit "$body" "$ZS_TEST_TMP/judge.$i.json" >"$ZS_TEST_TMP/judge.$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
touch "$ZS_TEST_TMP/judge.done"
wait "$watcher"
# Right away, while the burst's replicas are up: their logs, and one
# replica's in-memory list (GET /verdicts; it has what that replica judged).
curl -s -m 30 "$url/judge/verdicts" >"$ZS_TEST_TMP/recent.json"
for pod in $(kubectl get pods -n "$ns" -l zeroscale.dev/function=judge -o name); do
  kubectl logs -n "$ns" "$pod" >"$ZS_TEST_TMP/judge-log.${pod#pod/}" || true
done
for i in "${!submissions[@]}"; do
  IFS='|' read -r want problem source <<<"${submissions[$i]}"
  got=$(cat "$ZS_TEST_TMP/judge.$i.code")/$(jq -r '"\(.verdict) (\(.detail)) in \(.pod)"' "$ZS_TEST_TMP/judge.$i.json" 2>/dev/null)
  check "$problem: '$source' is $want (got $got)" starts_with "$got" "200/$want "
done
jq -s '.' "$ZS_TEST_TMP"/judge.*.json >"$ZS_TEST_TMP/verdicts.json"
max_replicas=$(cat "$ZS_TEST_TMP/judge.max_replicas" 2>/dev/null || echo 0)
pods=$(jq -r '[.[].pod] | unique | length' "$ZS_TEST_TMP/verdicts.json")
check "the burst scaled the judge out (up to $max_replicas replicas; $pods pods judged)" [ "$max_replicas" -gt 1 ]
check "no submission saw another running in its pod" [ "$(jq '[.[].others_running] | max' "$ZS_TEST_TMP/verdicts.json")" = 0 ]
wait_for 5 "judge: a billing line per submission" billed_at_least judge 8
# Per pod, ordered by start, each run finished before the next started.
overlaps=$(jq '[group_by(.pod)[] | sort_by(.started) | . as $runs
  | range(1; length) | select($runs[.].started < $runs[. - 1].finished)] | length' "$ZS_TEST_TMP/verdicts.json")
check "no pod ran two submissions at once (judge's own clock)" [ "$overlaps" = 0 ]
# The same from the activator: a billing line's timestamp is the arrival;
# the replica had it from arrival + queued_ms for duration_ms.
billing_overlaps=$(billed judge | jq -s 'def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);
  [.[] | {pod, start: ((.timestamp | ms) + .queued_ms), end: ((.timestamp | ms) + .queued_ms + .duration_ms)}]
  | [group_by(.pod)[] | sort_by(.start) | . as $r | range(1; length) | select($r[.].start < $r[. - 1].end - 2)]
  | length')
check "no pod had two submissions in flight at once (billing lines)" [ "$billing_overlaps" = 0 ]
check "billed: 8 submissions, all answered 200" \
  [ "$(billed judge | jq -s -r '[.[] | select(.path == "/submit")] | [length, ([.[].code] | unique | join(","))] | join(" ")')" = "8 200" ]
unknown=$(jq --slurpfile burst "$ZS_TEST_TMP/verdicts.json" \
  '[.verdicts[].submission] - [$burst[0][].submission] | length' "$ZS_TEST_TMP/recent.json")
check "GET /verdicts answers its pod's verdicts, all of the burst ($(jq '.verdicts | length' "$ZS_TEST_TMP/recent.json") from $(jq -r .pod "$ZS_TEST_TMP/recent.json"))" [ "$unknown" = 0 ]
logged=$(cat "$ZS_TEST_TMP"/judge-log.* | grep -c '"msg":"verdict"' || true)
check "each verdict is a JSON line in the pods' logs ($logged)" [ "$logged" = 8 ]

# --- scheduled backup -------------------------------------------------------------------
say "backup: a minute schedule (trigger clock x$scale) backs up the database"
for i in $(seq 20); do rcli SET "user:$i" "name-$i" >/dev/null; done
rcli SET session:1 token PX 600000 >/dev/null
rcli HSET profile:1 name ada lang c++ >/dev/null
rcli RPUSH queue:1 a b c >/dev/null
rcli SADD tags:1 x y >/dev/null
keys=$(rcli DBSIZE)
# The file lives in the replica, which stays 15 s after the tick: long
# enough to read it. Created at zero; the first tick (within 6 s) wakes it.
backup_at_15s=(backup "s/scaleToZeroAfterSeconds: $idle/scaleToZeroAfterSeconds: 15/")
example "${backup_at_15s[@]}" 's/cron: "0 3 \* \* \*"/cron: "* * * * *"/' | kubectl apply -n "$ns" -f - >/dev/null
backup_succeeded() {
  local n
  n=$(kubectl get function backup -n "$ns" -o jsonpath='{.status.triggers[0].succeeded}')
  ((${n:-0} >= 1))
}
wait_for 60 "backup: the first tick is answered 2xx" backup_succeeded
# Back to the example's own nightly schedule: no more ticks.
example "${backup_at_15s[@]}" | kubectl apply -n "$ns" -f - >/dev/null
line=$(billed backup | jq -c 'select(.client_request_id | startswith("trigger-"))' | head -1)
say "backup's first billing line: $line"
check "the tick was a cold start answered 200 on POST /backup" \
  [ "$(jq -r '"\(.code) \(.cold_start) \(.method) \(.path)"' <<<"$line")" = "200 true POST /backup" ]
tick=$(jq -r .client_request_id <<<"$line" | sed -n "s/^trigger-$ns-backup-nightly-\([0-9]*\)$/\1/p")
check "its request id names the trigger and the tick ($tick)" [ -n "$tick" ]
file=/tmp/backups/redis-$(date -u -d "@${tick:-0}" +%Y%m%dT%H%M%SZ).jsonl
pod=$(kubectl get pods -n "$ns" -l zeroscale.dev/function=backup -o jsonpath='{.items[0].metadata.name}')
kubectl exec -n "$ns" "$pod" -- cat "$file" >"$ZS_TEST_TMP/backup.jsonl" || true
check "the tick's file $file holds one line per key ($keys)" [ "$(wc -l <"$ZS_TEST_TMP/backup.jsonl")" = "$keys" ]
# Restore into database 1 and compare every key's value with database 0.
while read -r entry; do
  key=$(jq -r .key <<<"$entry" | base64 -d)
  jq -r .dump <<<"$entry" | base64 -d | rcli -n 1 -x RESTORE "$key" 0 >/dev/null
done <"$ZS_TEST_TMP/backup.jsonl"
# value_of DB KEY: the key's type and value, members sorted where order
# does not matter.
value_of() {
  local type
  type=$(rcli -n "$1" TYPE "$2")
  case $type in
    string) echo "string $(rcli -n "$1" GET "$2")" ;;
    hash) echo "hash $(rcli -n "$1" HGETALL "$2" | paste - - | sort | paste -sd' ')" ;;
    list) echo "list $(rcli -n "$1" LRANGE "$2" 0 -1 | paste -sd' ')" ;;
    set) echo "set $(rcli -n "$1" SMEMBERS "$2" | sort | paste -sd' ')" ;;
    *) echo "$type" ;;
  esac
}
differ=()
while read -r key; do
  [[ $(value_of 0 "$key") == "$(value_of 1 "$key")" ]] || differ+=("$key")
done < <(rcli -n 0 --scan)
check "restored, every key has its value back ($(rcli -n 1 DBSIZE) keys; differ: ${differ[*]})" \
  [ "$(rcli -n 1 DBSIZE)/${#differ[@]}" = "$keys/0" ]

# --- stream processor -------------------------------------------------------------------
say "stream: 30 payments and one poison entry on a Redis stream"
apply_example stream
declare -A want_total=()
for i in $(seq 30); do
  account=$(printf 'alice\nbob\ncarol' | sed -n "$((i % 3 + 1))p")
  rcli XADD payments '*' account "$account" amount "$i" >/dev/null
  want_total[$account]=$((${want_total[$account]:-0} + i))
done
rcli XADD payments '*' account dave amount lots >/dev/null
want=$(for a in alice bob carol; do echo "$a=${want_total[$a]}"; done | paste -sd' ')
totals() { rcli HGETALL totals | paste - - | sort | tr '\t' '=' | paste -sd' '; }
totals_are() { [[ $(totals) == "$1" ]]; }
wait_for 90 "stream: the totals in Redis are $want" totals_are "$want"
say "totals: $(totals)"
dead_lettered() { [[ $(rcli XLEN payments.dead) == 1 ]]; }
wait_for 60 "stream: the poison entry is dead-lettered" dead_lettered
dead=$(rcli XRANGE payments.dead - + | paste -sd' ')
say "dead letter: $dead"
check "the dead letter carries the entry" contains "$dead" "account dave amount lots"
check "and the error after 3 attempts" contains "$dead" "zeroscale-error HTTP 422"
check "and the attempts" contains "$dead" "zeroscale-attempts 3"
check "every entry is acknowledged" [ "$(rcli XPENDING payments totals | head -1)" = 0 ]
stream_lines=$(billed stream | jq -c 'select(.client_request_id | startswith("trigger-'"$ns"'-stream-payments-"))')
check "billed: 30 entries once each with 200, the poison entry 3 times with 422" \
  [ "$(jq -s -r '[.[] | select(.code == 200) | .client_request_id] | "\(length) \(unique | length)"' <<<"$stream_lines")/$(jq -s -r '[.[] | select(.code == 422)] | "\(length) \([.[].client_request_id] | unique | length)"' <<<"$stream_lines")" = "30 30/3 1" ]

# --- back to zero -------------------------------------------------------------------------
say "every example returns to zero"
at_zero() { [[ $(kubectl get deployment "$1" -n "$ns" -o jsonpath='{.spec.replicas}') == 0 ]]; }
for name in chatbot vending judge backup stream; do
  wait_for $((idle + 60)) "$name: back to zero replicas" at_zero "$name"
done
no_pods() { [[ -z $(kubectl get pods -n "$ns" -o name) ]]; }
wait_for 60 "every example's pods are gone" no_pods
lines=$(wc -l <"$billing")
lines_counted() { [[ $(metric_sum "127.0.0.1:$am_port" 'zeroscale_billing_lines_written_total ') == "$1" ]]; }
wait_for 5 "billing lines written are counted ($lines)" lines_counted "$lines"
check "no billing line dropped" [ "$(metric_sum "127.0.0.1:$am_port" 'zeroscale_billing_lines_dropped_total')" -eq 0 ]
say "billing lines per example: $(jq -r .function "$billing" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')"
say "e2e_examples took $((($(date +%s%3N) - test_start_ms) / 1000)) s"
finish
