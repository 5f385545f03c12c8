package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// sample is one line of a Prometheus text exposition.
type sample struct {
	labels map[string]string
	value  float64
}

// metricSet holds samples by metric name (the line's name: a summary's
// _count is its own name).
type metricSet map[string][]sample

// parseMetrics reads the Prometheus text format (0.0.4). When wanted is not
// nil, only lines of the names it accepts are parsed: the API server exposes
// megabytes of histograms the benchmark does not need.
func parseMetrics(r io.Reader, wanted func(name string) bool) (metricSet, error) {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			return nil, fmt.Errorf("malformed metrics line %q", line)
		}
		if wanted != nil && !wanted(line[:end]) {
			continue
		}
		name, s, err := parseSample(line)
		if err != nil {
			return nil, err
		}
		m[name] = append(m[name], s)
	}
	return m, sc.Err()
}

// parseSample parses `name{label="value",...} value [timestamp]`.
func parseSample(line string) (string, sample, error) {
	end := strings.IndexAny(line, "{ ")
	name, rest := line[:end], line[end:]
	s := sample{labels: map[string]string{}}
	if rest[0] == '{' {
		var err error
		if rest, err = parseLabels(rest[1:], s.labels); err != nil {
			return "", sample{}, fmt.Errorf("metrics line %q: %w", line, err)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", sample{}, fmt.Errorf("metrics line %q: no value", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", sample{}, fmt.Errorf("metrics line %q: %w", line, err)
	}
	s.value = v
	return name, s, nil
}

// parseLabels parses `label="value",...}` into labels and returns what follows
// the closing brace. Values may hold \\, \" and \n escapes.
func parseLabels(rest string, labels map[string]string) (string, error) {
	for {
		rest = strings.TrimLeft(rest, " ,")
		if strings.HasPrefix(rest, "}") {
			return rest[1:], nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
			return "", fmt.Errorf("malformed labels")
		}
		key := strings.TrimSpace(rest[:eq])
		rest = rest[eq+2:]
		var value strings.Builder
		closed := false
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				if rest[i] == 'n' {
					value.WriteByte('\n')
				} else {
					value.WriteByte(rest[i])
				}
				continue
			}
			if c == '"' {
				rest, closed = rest[i+1:], true
				break
			}
			value.WriteByte(c)
		}
		if !closed {
			return "", fmt.Errorf("unterminated label value")
		}
		labels[key] = value.String()
	}
}

// sum adds the samples of name whose labels include match.
func (m metricSet) sum(name string, match map[string]string) float64 {
	total := 0.0
next:
	for _, s := range m[name] {
		for k, v := range match {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// value returns the first sample of name, and whether there is one.
func (m metricSet) value(name string) (float64, bool) {
	if s := m[name]; len(s) > 0 {
		return s[0].value, true
	}
	return 0, false
}

// Resources whose writes the benchmark counts.
const (
	resourceSecrets     = "secrets"
	resourceCredentials = "voipbincredentials"
	// resourceEvents are the events the operator records (events.k8s.io).
	resourceEvents    = "events"
	subresourceStatus = "status"
	// anySubresource matches every subresource, the main resource included.
	anySubresource = "*"
)

// Verbs of apiserver_request_total that change something. The API server
// reports a create as POST and an update as PUT (the HTTP methods), a
// server-side apply as APPLY and a merge or JSON patch as PATCH.
var (
	verbsCreate = []string{"POST"}
	verbsUpdate = []string{"PUT"}
	verbsPatch  = []string{"APPLY", "PATCH"}
	verbsDelete = []string{"DELETE", "DELETECOLLECTION"}
	writeVerbs  = slices.Concat(verbsCreate, verbsUpdate, verbsPatch, verbsDelete)
)

// writeKey identifies a kind of write in apiserver_request_total.
type writeKey struct{ resource, subresource, verb string }

// writeCounts counts the API server's writes of Secrets and VoipbinCredentials
// since it started, whatever the answer (a failed write is still a write the
// operator made).
type writeCounts map[writeKey]float64

// apiServerWrites scrapes kube-apiserver's own /metrics with the admin client.
func apiServerWrites(ctx context.Context, kube kubernetes.Interface) (writeCounts, error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").
		SetHeader("Accept", "text/plain;version=0.0.4").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping kube-apiserver's metrics: %w", err)
	}
	m, err := parseMetrics(bytes.NewReader(raw), func(name string) bool { return name == "apiserver_request_total" })
	if err != nil {
		return nil, err
	}
	return writesOf(m), nil
}

func writesOf(m metricSet) writeCounts {
	w := writeCounts{}
	for _, s := range m["apiserver_request_total"] {
		res := s.labels["resource"]
		if (res != resourceSecrets && res != resourceCredentials && res != resourceEvents) ||
			!slices.Contains(writeVerbs, s.labels["verb"]) {
			continue
		}
		w[writeKey{res, s.labels["subresource"], s.labels["verb"]}] += s.value
	}
	return w
}

// since returns the writes made after earlier was taken.
func (w writeCounts) since(earlier writeCounts) writeCounts {
	d := writeCounts{}
	for k, v := range w {
		if n := v - earlier[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// count adds the writes of resource and subresource (anySubresource: all) with
// one of verbs (none: any write).
func (w writeCounts) count(resource, subresource string, verbs ...string) int {
	total := 0.0
	for k, v := range w {
		if k.resource == resource && (subresource == anySubresource || k.subresource == subresource) &&
			(len(verbs) == 0 || slices.Contains(verbs, k.verb)) {
			total += v
		}
	}
	return int(total)
}

// describe lists the writes of resource by subresource and verb, for the table.
func (w writeCounts) describe(resource string) string {
	var parts []string
	for k, v := range w {
		if k.resource != resource {
			continue
		}
		what := k.verb
		if k.subresource != "" {
			what = k.subresource + " " + k.verb
		}
		parts = append(parts, fmt.Sprintf("%s %d", what, int(v)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// apiCalls summarises the stand-in's records of one window.
type apiCalls struct {
	total, logins, tooMany int
	firstLogin, lastLogin  time.Time
}

// callsSince summarises the stand-in's records from index from on, and returns
// the index where the next window starts.
func callsSince(api *voipbintest.Server, from int) (apiCalls, int) {
	reqs := api.Requests()
	var c apiCalls
	for _, r := range reqs[min(from, len(reqs)):] {
		c.total++
		if r.Status == 429 {
			c.tooMany++
		}
		if r.Path != "/auth/login" {
			continue
		}
		c.logins++
		if c.firstLogin.IsZero() || r.Time.Before(c.firstLogin) {
			c.firstLogin = r.Time
		}
		if r.Time.After(c.lastLogin) {
			c.lastLogin = r.Time
		}
	}
	return c, len(reqs)
}

// window is a measurement in progress: the API server's write counters and
// the stand-in's request log at its start.
type window struct {
	writes writeCounts
	mark   int
}

// openWindow starts counting API-server writes and VoIPBIN calls.
func (b *bench) openWindow(ctx context.Context) (window, error) {
	writes, err := apiServerWrites(ctx, b.kube)
	if err != nil {
		return window{}, err
	}
	_, mark := callsSince(b.api, 0)
	return window{writes: writes, mark: mark}, nil
}

// closeWindow returns the API-server writes and the VoIPBIN calls since w opened.
func (b *bench) closeWindow(ctx context.Context, w window) (writeCounts, apiCalls, error) {
	after, err := apiServerWrites(ctx, b.kube)
	if err != nil {
		return nil, apiCalls{}, err
	}
	calls, _ := callsSince(b.api, w.mark)
	return after.since(w.writes), calls, nil
}
