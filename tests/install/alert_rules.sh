#!/usr/bin/env bash
# The chart's PrometheusRule, checked by Prometheus' own tools: rendered with
# prometheusRule.enabled=true, its spec (a rule file) passes `promtool check
# rules` (templates of the annotations included), and `promtool test rules`
# runs alerts/alerts_test.yaml over synthetic series: each alert fires on the
# failure it is for and stays quiet on a healthy installation. An alert of
# the chart without a firing and a quiet case in the test file fails.
# (Annotations are dropped for the unit tests: their wording is not pinned;
# check rules has parsed their templates.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for tool in promtool yq; do
  command -v $tool >/dev/null || { fail "$tool not installed (hack/install-deps.sh)"; finish; exit 1; }
done

render_default --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml >"$TEST_TMP/rule.yaml"
yq -y '.spec' "$TEST_TMP/rule.yaml" >"$TEST_TMP/rules-full.yaml"
if out=$(promtool check rules "$TEST_TMP/rules-full.yaml" 2>&1); then
  pass "promtool check rules: $(grep -o 'SUCCESS: [0-9]* rules found' <<<"$out")"
else
  fail "promtool check rules: $out"
fi
yq -y '.spec | del(.groups[].rules[].annotations)' "$TEST_TMP/rule.yaml" >"$TEST_TMP/rules.yaml"
cp "$INSTALL_TESTS/alerts/alerts_test.yaml" "$TEST_TMP/"

# Every alert has a case where it fires and one where it does not.
tests=$INSTALL_TESTS/alerts/alerts_test.yaml
mapfile -t alerts < <(yq -r '.groups[].rules[].alert // empty' "$TEST_TMP/rules.yaml")
((${#alerts[@]} >= 7)) || fail "only ${#alerts[@]} alerts rendered: ${alerts[*]}"
for alert in "${alerts[@]}"; do
  fires=$(yq --arg a "$alert" '[.tests[].alert_rule_test[] | select(.alertname == $a and ((.exp_alerts // []) | length) > 0)] | length' "$tests")
  quiet=$(yq --arg a "$alert" '[.tests[].alert_rule_test[] | select(.alertname == $a and ((.exp_alerts // []) | length) == 0)] | length' "$tests")
  if ((fires > 0 && quiet > 0)); then pass "$alert: $fires firing and $quiet quiet cases"; else
    fail "$alert: $fires firing and $quiet quiet cases in alerts_test.yaml (needs both)"; fi
done

if out=$(cd "$TEST_TMP" && promtool test rules alerts_test.yaml 2>&1); then
  pass "promtool test rules: every alert fires on its failure and stays quiet when healthy"
else
  fail "promtool test rules:"
  echo "$out"
fi

# Without a billing log there is no line to miss: that alert is not rendered.
if render_default --set prometheusRule.enabled=true --set activator.billingLog= \
  --show-only templates/prometheusrule.yaml | grep -q ZeroscaleBillingLinesNotWritten; then
  fail "ZeroscaleBillingLinesNotWritten rendered with activator.billingLog empty"
else
  pass "no ZeroscaleBillingLinesNotWritten without a billing log"
fi
finish
