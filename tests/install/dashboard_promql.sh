#!/usr/bin/env bash
# Every query of the Grafana dashboard runs on Prometheus' own engine and
# returns data: promtool's rule unit tests evaluate each expression (Grafana
# variables replaced as Grafana would: $namespace/$function -> .*,
# $__rate_interval -> 1m, $__range -> 1h) over synthetic series shaped like
# the activator's and controller's metrics, and expect at least one series.
# A few expressions are also checked for their exact values (the bill).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v promtool >/dev/null || { fail "promtool not installed (Debian package prometheus; hack/install-deps.sh)"; finish; exit 1; }
command -v jq >/dev/null || { fail "jq not installed (hack/install-deps.sh)"; finish; exit 1; }
dashboard=$CHART/dashboards/zeroscale.json

# The queries with Grafana's variables substituted, one per line.
jq -r '.panels[] | select(.targets) | .title as $t | .targets[] | "\($t)\t\(.expr)"' "$dashboard" \
  | sed -e 's/\$namespace/.*/g; s/\$function/.*/g; s/\$__rate_interval/1m/g; s/\$__range/1h/g' \
    >"$TEST_TMP/queries.tsv"
count=$(wc -l <"$TEST_TMP/queries.tsv")
((count > 0)) || { fail "no queries in $dashboard"; finish; exit 1; }
if grep -n '\$' "$TEST_TMP/queries.tsv"; then fail "a Grafana variable is left unsubstituted"; fi

# Two functions in two namespaces; one sample a minute for two hours. Two
# controller instances export the replica gauges (only the leader in reality;
# the dashboard takes max).
series() { printf '      - series: %s\n        values: %s\n' "$1" "'$2'"; }
buckets() { # NAME NS FN PER_MINUTE_COUNTS(le=0.1 0.5 1 +Inf, cumulative)
  local name=$1 ns=$2 fn=$3 le i=0
  local -a counts
  read -r -a counts <<<"$4"
  for le in 0.1 0.5 1 +Inf; do
    series "${name}_bucket{namespace=\"$ns\",function=\"$fn\",le=\"$le\"}" "0+${counts[$i]}x120"
    i=$((i + 1))
  done
}
{
  echo "rule_files: []"
  echo "evaluation_interval: 1m"
  echo "tests:"
  echo "  - interval: 1m"
  echo "    input_series:"
  series 'zeroscale_invocations_total{namespace="a",function="hello",code="200"}' '0+60x120'
  series 'zeroscale_invocations_total{namespace="a",function="hello",code="502"}' '0+6x120'
  series 'zeroscale_invocations_total{namespace="b",function="world",code="200"}' '0+30x120'
  series 'zeroscale_rejected_requests_total{namespace="a",function="hello",reason="queue_full"}' '0+6x120'
  series 'zeroscale_rejected_requests_total{namespace="b",function="world",reason="exec_timeout"}' '0+1x120'
  buckets zeroscale_invocation_duration_seconds a hello "30 60 66 66"
  buckets zeroscale_invocation_duration_seconds b world "10 20 30 30"
  buckets zeroscale_cold_start_wait_seconds a hello "0 1 1 1"
  buckets zeroscale_cold_start_wait_seconds b world "0 0 1 1"
  series 'zeroscale_cold_starts_total{namespace="a",function="hello"}' '0+1x120'
  series 'zeroscale_cold_starts_total{namespace="b",function="world"}' '0+1x120'
  series 'zeroscale_billable_gb_seconds_total{namespace="a",function="hello"}' '0+7.5x120'
  series 'zeroscale_billable_gb_seconds_total{namespace="b",function="world"}' '0+0.25x120'
  series 'zeroscale_requests_in_flight{namespace="a",function="hello",instance="act-1"}' '3x120'
  series 'zeroscale_requests_in_flight{namespace="a",function="hello",instance="act-2"}' '2x120'
  series 'zeroscale_requests_in_flight{namespace="b",function="world",instance="act-1"}' '0x120'
  series 'zeroscale_requests_queued{namespace="a",function="hello",instance="act-1"}' '4x120'
  series 'zeroscale_requests_queued{namespace="b",function="world",instance="act-1"}' '0x120'
  for instance in ctl-1 ctl-2; do
    series "zeroscale_function_desired_replicas{namespace=\"a\",function=\"hello\",instance=\"$instance\"}" '2x120'
    series "zeroscale_function_ready_replicas{namespace=\"a\",function=\"hello\",instance=\"$instance\"}" '1x120'
    series "zeroscale_function_desired_replicas{namespace=\"b\",function=\"world\",instance=\"$instance\"}" '0x120'
    series "zeroscale_function_ready_replicas{namespace=\"b\",function=\"world\",instance=\"$instance\"}" '0x120'
  done
  series 'zeroscale_scale_events_total{namespace="a",function="hello",direction="up"}' '0+1x120'
  series 'zeroscale_scale_events_total{namespace="b",function="world",direction="down"}' '0+1x120'
  # Activator-wide: the billing log.
  series 'zeroscale_billing_lines_written_total{instance="act-1"}' '0+96x120'
  series 'zeroscale_trigger_events_total{namespace="a",function="hello",trigger="orders",result="success",instance="trg-1"}' '0+30x120'
  series 'zeroscale_trigger_events_total{namespace="a",function="hello",trigger="orders",result="dead_lettered",instance="trg-2"}' '0+1x120'
  series 'zeroscale_trigger_pending{namespace="a",function="hello",trigger="orders",instance="trg-1"}' '12x120'
  series 'zeroscale_trigger_pending{namespace="a",function="hello",trigger="orders",instance="trg-2"}' '12x120'
  series 'zeroscale_trigger_connected{namespace="a",function="hello",trigger="orders",instance="trg-1"}' '1x120'
  series 'zeroscale_trigger_connected{namespace="a",function="hello",trigger="orders",instance="trg-2"}' '1x120'
  for le in 0.1 1 +Inf; do
    series "zeroscale_trigger_fire_delay_seconds_bucket{namespace=\"b\",function=\"world\",trigger=\"nightly\",le=\"$le\"}" '0+1x120'
  done
  series 'zeroscale_billing_lines_dropped_total{instance="act-1",reason="queue_full"}' '0x120'
  series 'zeroscale_billing_lines_dropped_total{instance="act-1",reason="write_error"}' '0x120'
  echo "    promql_expr_test:"
  # Every dashboard query returns at least one series at t=60m.
  while IFS=$'\t' read -r title expr; do
    printf '      # %s\n' "$title"
    printf '      - expr: %s\n' "$(jq -Rn --arg e "clamp_max(count($expr), 1)" '$e')"
    printf '        eval_time: 60m\n        exp_samples:\n          - labels: "{}"\n            value: 1\n'
  done <"$TEST_TMP/queries.tsv"
  # The bill, exactly: 7.5 and 0.25 GB-s a minute for the hour.
  cat <<'YAML'
      - expr: sum by (namespace, function) (increase(zeroscale_billable_gb_seconds_total{namespace=~".*", function=~".*"}[1h]))
        eval_time: 60m
        exp_samples:
          - labels: '{namespace="a", function="hello"}'
            value: 450
          - labels: '{namespace="b", function="world"}'
            value: 15
      - expr: sum by (namespace, function, code) (rate(zeroscale_invocations_total{namespace=~".*", function=~".*"}[1m]))
        eval_time: 60m
        exp_samples:
          - labels: '{namespace="a", function="hello", code="200"}'
            value: 1
          - labels: '{namespace="a", function="hello", code="502"}'
            value: 0.1
          - labels: '{namespace="b", function="world", code="200"}'
            value: 0.5
      - expr: max by (namespace, function) (zeroscale_function_desired_replicas{namespace=~".*", function=~".*"})
        eval_time: 60m
        exp_samples:
          - labels: '{namespace="a", function="hello"}'
            value: 2
          - labels: '{namespace="b", function="world"}'
            value: 0
YAML
} >"$TEST_TMP/dashboard_test.yaml"

# The exact checks must be queries the dashboard really has.
for exact in 'sum by (namespace, function) (increase(zeroscale_billable_gb_seconds_total{namespace=~".*", function=~".*"}[1h]))' \
  'sum by (namespace, function, code) (rate(zeroscale_invocations_total{namespace=~".*", function=~".*"}[1m]))'; do
  cut -f2 "$TEST_TMP/queries.tsv" | grep -qxF "$exact" || fail "the dashboard no longer has: $exact"
done

if out=$(cd "$TEST_TMP" && promtool test rules dashboard_test.yaml 2>&1); then
  pass "promtool: all $count dashboard queries return data, and the bill adds up"
else
  fail "promtool test rules:"
  echo "$out"
  [[ ${ZS_KEEP_TMP:-0} == 1 ]] && { cp "$TEST_TMP/dashboard_test.yaml" /tmp/zs-dashboard_test.yaml; echo "kept /tmp/zs-dashboard_test.yaml"; }
fi
finish
