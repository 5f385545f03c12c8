package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRestartCounterServesEverySeriesFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := NewRestartCounter(reg)
	if err != nil {
		t.Fatal(err)
	}
	c.ObserveRestart("Deployment", "restarted")
	c.ObserveRestart("Deployment", "restarted")
	c.ObserveRestart("DaemonSet", "failed")
	want := `
# HELP voipbin_rollout_restarts_total Rollout restarts of spec.rolloutRestartTargets by kind and result: restarted (the pod template was patched), failed (the workload was missing, or could not be read or patched).
# TYPE voipbin_rollout_restarts_total counter
voipbin_rollout_restarts_total{kind="DaemonSet",result="failed"} 1
voipbin_rollout_restarts_total{kind="DaemonSet",result="restarted"} 0
voipbin_rollout_restarts_total{kind="Deployment",result="failed"} 0
voipbin_rollout_restarts_total{kind="Deployment",result="restarted"} 2
voipbin_rollout_restarts_total{kind="StatefulSet",result="failed"} 0
voipbin_rollout_restarts_total{kind="StatefulSet",result="restarted"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "voipbin_rollout_restarts_total"); err != nil {
		t.Error(err)
	}
	if _, err := NewRestartCounter(reg); err == nil {
		t.Error("registered twice without an error")
	}
}
