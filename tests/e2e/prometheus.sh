# shellcheck shell=bash
# A real Prometheus (Debian's) for the end-to-end tests (issue 7): scrapes the
# controller and the activator every second while a test runs; then
# prom_check_exposition lints both /metrics with promtool, and
# prom_check_dashboard runs every query of the shipped Grafana dashboard
# against it, over the test's time range, and expects data from each.
#   source tests/e2e/prometheus.sh   (after tests/integration/lib.sh)
#   prom_start CONTROLLER_HOST:PORT ACTIVATOR_HOST:PORT [TRIGGERS_HOST:PORT...]
ZS_DASHBOARD=$ZS_ROOT/charts/zeroscale/dashboards/zeroscale.json

prom_start() {
  local controller=$1 activator=$2
  shift 2
  PROM_TARGETS=$((2 + $#))
  local triggers=""
  if (($#)); then
    triggers="  - job_name: zeroscale-triggers
    static_configs: [{targets: [$(printf "'%s'," "$@" | sed 's/,$//')]}]"
  fi
  command -v prometheus >/dev/null || { fail "prometheus not installed (hack/install-deps.sh)"; return 1; }
  PROM_PORT=$(free_port)
  PROM_URL=http://127.0.0.1:$PROM_PORT
  PROM_START=$(date +%s)
  cat >"$ZS_TEST_TMP/prometheus.yml" <<YAML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: zeroscale-controller
    static_configs: [{targets: ['$controller']}]
  - job_name: zeroscale-activator
    static_configs: [{targets: ['$activator']}]
$triggers
YAML
  start_bg prometheus prometheus --config.file="$ZS_TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$ZS_TEST_TMP/prometheus-data" --web.listen-address="127.0.0.1:$PROM_PORT" \
    --log.level=warn
  wait_for 30 "Prometheus is ready" curl -sf "$PROM_URL/-/ready"
}

# prom_targets_up [N]: N scrape targets (default: all of prom_start's) report health "up".
prom_targets_up() {
  [[ $(curl -sf "$PROM_URL/api/v1/targets" |
    jq '[.data.activeTargets[] | select(.health == "up")] | length') == "${1:-$PROM_TARGETS}" ]]
}

# prom_instant QUERY: the first sample's value of an instant query ("" if none).
prom_instant() {
  curl -sfG "$PROM_URL/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}

# prom_check_exposition CONTROLLER_URL ACTIVATOR_URL: promtool's lint of both.
# One finding is expected and allowed: the contract
# (docs/metrics-and-billing.md) fixes the billing metric's name as
# zeroscale_billable_gb_seconds_total, which the lint would spell out
# ("abbreviated units"); anything else, a parse error included, fails.
ZS_PROMTOOL_ALLOWED='^zeroscale_billable_gb_seconds_total metric names should not contain abbreviated units$'
prom_check_exposition() {
  local name url out rest
  for name in controller activator; do
    [[ $name == controller ]] && url=$1 || url=$2
    if ! out=$(curl -sf "$url"); then
      fail "promtool check metrics: $name: cannot read $url"
      continue
    fi
    rest=$(promtool check metrics <<<"$out" 2>&1 | grep -Ev "$ZS_PROMTOOL_ALLOWED" || true)
    if [[ -z $rest ]]; then
      pass "promtool check metrics: $name ($(grep -c '^# TYPE' <<<"$out") families)"
    else
      fail "promtool check metrics: $name: $rest"
    fi
  done
}

# prom_check_dashboard NAMESPACE [TITLES [SKIP]]: every panel query (Grafana's
# variables replaced as Grafana would for this namespace and all functions)
# returns at least one non-NaN sample over the test's range; the template
# variables' label_values queries list the namespace. TITLES, an extended
# regular expression, selects the panels by title (default: all but the
# Triggers row's, which need broker and schedule triggers running); SKIP, a
# regular expression, leaves out the queries it matches (a schedule-only
# query in a test of broker triggers).
prom_check_dashboard() {
  local ns=$1 titles=${2:-} skip=${3:-} end range title expr n
  end=$(date +%s)
  range=$((end - PROM_START + 1))
  local queries=$ZS_TEST_TMP/dashboard-queries.tsv
  # $__rate_interval as Grafana computes it for a 1 s scrape and a 2 s step
  # would be 4 s; 10 s keeps two samples in every window on a loaded machine.
  jq -r '.panels[] | select(.targets) | .title as $t | .targets[] | "\($t)\t\(.expr)"' "$ZS_DASHBOARD" |
    sed -e "s/\\\$namespace/$ns/g; s/\\\$function/.*/g; s/\\\$__rate_interval/10s/g; s/\\\$__range/${range}s/g" \
      >"$queries"
  local total=0
  while IFS=$'\t' read -r title expr; do
    if [[ -n $titles ]]; then
      [[ $title =~ $titles ]] || continue
    elif [[ $title =~ ^(Trigger|Broker) ]]; then
      continue
    fi
    if [[ -n $skip && $expr =~ $skip ]]; then continue; fi
    total=$((total + 1))
    n=$(curl -sfG "$PROM_URL/api/v1/query_range" --data-urlencode "query=$expr" \
      --data-urlencode "start=$PROM_START" --data-urlencode "end=$end" --data-urlencode step=2 |
      jq '[.data.result[].values[][1] | select(. != "NaN")] | length' 2>/dev/null || echo 0)
    if ((n > 0)); then
      pass "dashboard \"$title\": $n samples for $expr"
    else
      fail "dashboard \"$title\" returns no data: $expr"
    fi
  done <"$queries"
  ((total > 0)) || fail "no queries read from $ZS_DASHBOARD"
  local variable
  for variable in namespace function; do
    if curl -sfG "$PROM_URL/api/v1/label/$variable/values" --data-urlencode 'match[]=zeroscale_invocations_total' |
      jq -e --arg ns "$ns" --arg v "$variable" 'if $v == "namespace" then (.data | index($ns)) != null else (.data | length) > 0 end' >/dev/null; then
      pass "dashboard variable \$$variable lists values"
    else
      fail "dashboard variable \$$variable lists nothing"
    fi
  done
}
