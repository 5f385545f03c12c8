package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// NewEventDropCounter returns the counter of events the operator dropped
// because its queue of events to write was full, registered with reg. One
// series, nothing of a credential.
func NewEventDropCounter(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voipbin_events_dropped_total",
		Help: "Events not recorded because the queue of events waiting to be written was full.",
	})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}
