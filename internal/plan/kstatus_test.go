package plan

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// TestKStatus: what GitOps tools (Flux, Argo CD, Helm --wait, kubectl wait) read
// through kstatus: Current for a Ready CR, Failed for one that needs a human,
// InProgress while the operator works on it by itself.
func TestKStatus(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		want  status.Status
	}{
		{"Ready", func(w *world) {}, status.CurrentStatus},
		{"wrong password, nothing stored", func(w *world) { w.loginAnswers = []answer{http400} }, status.FailedStatus},
		{"wrong password, a valid token stored", func(w *world) {
			w.reconcile()
			w.now = w.now.Add(6 * 24 * time.Hour)
			w.loginAnswers = []answer{http400}
		}, status.FailedStatus},
		{"API down, nothing stored", func(w *world) { w.loginAnswers = []answer{http503} }, status.InProgressStatus},
		{"API down, a valid token stored", func(w *world) {
			w.reconcile()
			w.now = w.now.Add(6 * 24 * time.Hour)
			w.loginAnswers = []answer{http503}
		}, status.CurrentStatus},
		{"Secret write refused, nothing stored", func(w *world) { w.refuseWrites = true }, status.InProgressStatus},
		{"URL not allowed", func(w *world) { w.cr.Spec.APIURL = "https://evil.example" }, status.FailedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, true, false)
			w.cr.Generation = 2
			if tt.setup != nil {
				tt.setup(w)
				w.reconcile()
			}
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(w.cr)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetAPIVersion(v1alpha1.GroupVersion.String())
			u.SetKind("VoipbinCredential")
			res, err := status.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.want {
				t.Errorf("kstatus %s (%s), want %s; conditions %+v", res.Status, res.Message, tt.want, w.cr.Status.Conditions)
			}
		})
	}
}
