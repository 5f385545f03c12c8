package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// RestartCounter counts the operator's rollout restarts of the workloads of
// spec.rolloutRestartTargets; it is the controller's RestartObserver. Its labels
// are the workload's kind and the result, never a name: a bounded number of
// series, and nothing of a credential.
type RestartCounter struct {
	restarts *prometheus.CounterVec
}

// restartKinds and restartResults are the label values, each series created at
// zero so that a rate over it exists before the first restart.
var (
	restartKinds   = []string{"Deployment", "StatefulSet", "DaemonSet"}
	restartResults = []string{"restarted", "failed"}
)

// NewRestartCounter returns a RestartCounter registered with reg.
func NewRestartCounter(reg prometheus.Registerer) (*RestartCounter, error) {
	c := &RestartCounter{restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voipbin_rollout_restarts_total",
		Help: "Rollout restarts of spec.rolloutRestartTargets by kind and result: restarted (the pod template " +
			"was patched), failed (the workload was missing, or could not be read or patched).",
	}, []string{"kind", "result"})}
	if err := reg.Register(c.restarts); err != nil {
		return nil, err
	}
	for _, k := range restartKinds {
		for _, r := range restartResults {
			c.restarts.WithLabelValues(k, r)
		}
	}
	return c, nil
}

// ObserveRestart counts one restart or failure.
func (c *RestartCounter) ObserveRestart(kind, result string) {
	c.restarts.WithLabelValues(kind, result).Inc()
}
