package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// apiServerMetrics is what kube-apiserver 1.37 exposes (abridged): creates are
// POST, updates PUT, server-side applies APPLY, merge patches PATCH.
const apiServerMetrics = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 10
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="APPLY",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="APPLY",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="GET",version="v1"} 500
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="PUT",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="credentials.voipbin.net",resource="voipbincredentials",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 100
apiserver_request_total{code="201",component="apiserver",dry_run="",group="credentials.voipbin.net",resource="voipbincredentials",scope="resource",subresource="",verb="POST",version="v1alpha1"} 100
apiserver_request_total{code="201",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 7
apiserver_request_duration_seconds_bucket{le="0.005",resource="secrets",verb="POST"} 9
`

func TestWritesOf(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(apiServerMetrics), func(name string) bool { return name == "apiserver_request_total" })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["apiserver_request_duration_seconds_bucket"]; ok {
		t.Error("a family that was not wanted was parsed")
	}
	w := writesOf(m)
	for _, tc := range []struct {
		resource, subresource string
		verbs                 []string
		want                  int
	}{
		{resourceSecrets, "", verbsCreate, 10},
		{resourceSecrets, "", verbsPatch, 103},
		{resourceSecrets, "", verbsUpdate, 2},
		{resourceSecrets, anySubresource, nil, 115}, // the GETs are no writes
		{resourceCredentials, subresourceStatus, nil, 100},
		{resourceCredentials, anySubresource, nil, 200},
		{"leases", anySubresource, nil, 0}, // not counted at all
	} {
		if got := w.count(tc.resource, tc.subresource, tc.verbs...); got != tc.want {
			t.Errorf("count(%s, %q, %v) = %d, want %d", tc.resource, tc.subresource, tc.verbs, got, tc.want)
		}
	}
	earlier := writeCounts{{resourceSecrets, "", "APPLY"}: 100}
	if got := w.since(earlier).count(resourceSecrets, "", verbsPatch...); got != 3 {
		t.Errorf("since: %d APPLY, want 3", got)
	}
	if got, want := w.describe(resourceSecrets), "APPLY 103, POST 10, PUT 2"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

func TestParseSample(t *testing.T) {
	for _, tc := range []struct {
		line, name string
		labels     map[string]string
		value      float64
	}{
		{`go_goroutines 42`, "go_goroutines", map[string]string{}, 42},
		{`go_memstats_heap_inuse_bytes 1.2345e+07`, "go_memstats_heap_inuse_bytes", map[string]string{}, 12345000},
		{`x{a="1",b="q\"u\\o\nte"} 3 1700000000000`, "x", map[string]string{"a": "1", "b": "q\"u\\o\nte"}, 3},
		{`x{a="}{,=",} 4`, "x", map[string]string{"a": "}{,="}, 4},
	} {
		name, s, err := parseSample(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if name != tc.name || s.value != tc.value || len(s.labels) != len(tc.labels) {
			t.Errorf("%s: got %s %v %v", tc.line, name, s.labels, s.value)
		}
		for k, v := range tc.labels {
			if s.labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", tc.line, k, s.labels[k], v)
			}
		}
	}
	for _, bad := range []string{`x{a="1} 3`, `x{a=1} 3`, `x{a="1"}`, `x nope`} {
		if _, _, err := parseSample(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestMedianAndMin(t *testing.T) {
	if got := median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("median of 3 = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4 = %v", got)
	}
	if got := minOf([]float64{4, 1, 3}); got != 1 {
		t.Errorf("min = %v", got)
	}
	if median(nil) != 0 || minOf(nil) != 0 {
		t.Error("empty samples are not 0")
	}
}

// TestUnrelatedSecret checks the annotation is what kubectl apply leaves: the
// whole Secret, data included.
func TestUnrelatedSecret(t *testing.T) {
	s, err := unrelatedSecret("ns", "name", 4096, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Data["payload"]) != 4096 {
		t.Fatalf("%d bytes of data", len(s.Data["payload"]))
	}
	ann := s.Annotations[lastAppliedAnnotation]
	if !strings.HasPrefix(ann, `{"apiVersion":"v1","data":{"payload":"`) || !strings.HasSuffix(ann, "\n") {
		t.Errorf("annotation does not look like kubectl's: %.80s", ann)
	}
	var applied struct {
		Data     map[string]string `json:"data"`
		Metadata struct {
			Name, Namespace string
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(ann), &applied); err != nil {
		t.Fatal(err)
	}
	if applied.Data["payload"] != base64.StdEncoding.EncodeToString(s.Data["payload"]) ||
		applied.Metadata.Name != "name" || applied.Metadata.Namespace != "ns" {
		t.Error("the annotation does not hold the Secret")
	}
	if plain, _ := unrelatedSecret("ns", "other", 10, false); len(plain.Annotations) != 0 {
		t.Error("a Secret without the annotation has annotations")
	}
}
