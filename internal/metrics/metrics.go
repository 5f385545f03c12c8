// Package metrics exposes the operator's Prometheus metrics (README, "Metrics
// and alerts"): one series per VoipbinCredential, computed at scrape time
// from the cached CRs so that a deleted CR leaves no stale series, and the
// VoIPBIN client's request counts and latencies.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// scrapeTimeout bounds the listing of CRs during one scrape: a cache read, so it
// takes microseconds unless the cache has not started yet.
const scrapeTimeout = 5 * time.Second

// credentialLabels are the labels of the per-VoipbinCredential series.
var credentialLabels = []string{"namespace", "name"}

var (
	tokenExpiration = prometheus.NewDesc("voipbin_credential_token_expiration_timestamp_seconds",
		"When the stored login token of a VoipbinCredential expires (Unix time).", credentialLabels, nil)
	tokenRenewal = prometheus.NewDesc("voipbin_credential_token_renewal_timestamp_seconds",
		"When the next login of a VoipbinCredential is scheduled (Unix time).", credentialLabels, nil)
	accessKeyExpiration = prometheus.NewDesc("voipbin_credential_accesskey_expiration_timestamp_seconds",
		"When the accesskey of a VoipbinCredential expires (Unix time).", credentialLabels, nil)
	ready = prometheus.NewDesc("voipbin_credential_ready",
		"1 when the VoipbinCredential's Ready condition is True, else 0.", credentialLabels, nil)
)

// CredentialCollector computes the per-VoipbinCredential series at scrape time.
type CredentialCollector struct {
	reader client.Reader
}

// NewCredentialCollector returns a collector that lists VoipbinCredentials with
// reader (the manager's cache).
func NewCredentialCollector(reader client.Reader) *CredentialCollector {
	return &CredentialCollector{reader: reader}
}

// Describe sends the descriptors of the series.
func (c *CredentialCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tokenExpiration
	ch <- tokenRenewal
	ch <- accessKeyExpiration
	ch <- ready
}

// Collect lists the VoipbinCredentials and sends their series.
func (c *CredentialCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	list := &v1alpha1.VoipbinCredentialList{}
	// The series only read the cached objects: no deep copy of every credential
	// at every scrape (megabytes of garbage at 10,000 credentials).
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		logf.Log.WithName("metrics").Error(err, "listing VoipbinCredentials for a scrape")
		return
	}
	for i := range list.Items {
		vbc := &list.Items[i]
		labels := []string{vbc.Namespace, vbc.Name}
		if t := vbc.Status.Token; t != nil {
			sendTime(ch, tokenExpiration, t.ExpiresAt, labels)
			sendTime(ch, tokenRenewal, t.RenewalTime, labels)
		}
		if a := vbc.Status.AccessKey; a != nil {
			sendTime(ch, accessKeyExpiration, a.ExpiresAt, labels)
		}
		value := 0.0
		if meta.IsStatusConditionTrue(vbc.Status.Conditions, v1alpha1.ConditionReady) {
			value = 1
		}
		ch <- prometheus.MustNewConstMetric(ready, prometheus.GaugeValue, value, labels...)
	}
}

func sendTime(ch chan<- prometheus.Metric, desc *prometheus.Desc, t *metav1.Time, labels []string) {
	if t == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(t.Unix()), labels...)
}

// APIObserver counts and times the VoIPBIN client's requests; it is the client's
// voipbin.Observer.
type APIObserver struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// issued and revoked count the accesskeys created and deleted (accessKey.issue).
	issued, revoked prometheus.Counter
}

var _ voipbin.Observer = (*APIObserver)(nil)

// NewAPIObserver returns an APIObserver whose metrics are registered with reg.
func NewAPIObserver(reg prometheus.Registerer) (*APIObserver, error) {
	o := &APIObserver{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voipbin_api_requests_total",
			Help: "VoIPBIN API requests by operation (login, list_accesskeys, create_accesskey, delete_accesskey) and HTTP status code (or error).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "voipbin_api_request_duration_seconds",
			Help:    "Duration of VoIPBIN API requests by operation.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30},
		}, []string{"operation"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voipbin_accesskeys_issued_total",
			Help: "Accesskeys the operator created (accessKey.issue).",
		}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voipbin_accesskeys_revoked_total",
			Help: "Accesskeys the operator deleted (replaced, orphaned, or of a deleted VoipbinCredential).",
		}),
	}
	for _, col := range []prometheus.Collector{o.requests, o.duration, o.issued, o.revoked} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ObserveRequest records one request.
func (o *APIObserver) ObserveRequest(operation, code string, duration time.Duration) {
	o.requests.WithLabelValues(operation, code).Inc()
	o.duration.WithLabelValues(operation).Observe(duration.Seconds())
	if code == "200" {
		switch operation {
		case voipbin.OperationCreateAccessKey:
			o.issued.Inc()
		case voipbin.OperationDeleteAccessKey:
			o.revoked.Inc()
		}
	}
}
