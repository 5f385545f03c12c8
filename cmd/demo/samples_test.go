package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

func testScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return scheme
}

// TestLoadSamplesReadsConfigSamples reads the real config/samples: the three
// VoipbinCredentials, and the credentials the stand-in must accept.
func TestLoadSamplesReadsConfigSamples(t *testing.T) {
	set, err := loadSamples(testScheme(), filepath.Join("..", "..", "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.credentialNames(), []string{"billing", "dialer", "reports"}; !slices.Equal(got, want) {
		t.Errorf("credentialNames() = %q, want %q", got, want)
	}
	if len(set.agents) != 1 || set.agents[0].username != "agent@example.com" || set.agents[0].password == "" {
		t.Errorf("agents: got %d, want agent@example.com with its password", len(set.agents))
	}
	if len(set.accessKeys()) != 1 || !strings.HasPrefix(set.accessKeys()[0], "vb_") {
		t.Errorf("accessKeys: got %d, want one vb_ key", len(set.accessKeys()))
	}
}

// TestLoadSamplesFollowsFoldersAndSkipsOtherKinds: a listed folder is read
// through its own kustomization, and kinds the demo does not create are
// reported; a kustomization with more than resources is refused.
func TestLoadSamplesFollowsFoldersAndSkipsOtherKinds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", "resources:\n- all.yaml\n- consumer\n")
	write("all.yaml", `apiVersion: v1
kind: Secret
metadata: {name: key}
data: {k: dmJfMDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=}
---
apiVersion: credentials.voipbin.net/v1alpha1
kind: VoipbinCredential
metadata: {name: only}
spec:
  secretName: only-voipbin
  accessKey: {secretRef: {name: key, key: k}}
`)
	write("consumer/kustomization.yaml", "resources:\n- deployment.yaml\n")
	write("consumer/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n")

	set, err := loadSamples(testScheme(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.credentialNames(), []string{"only"}) || len(set.secrets) != 1 {
		t.Errorf("got credentials %q and %d Secrets, want [only] and 1", set.credentialNames(), len(set.secrets))
	}
	if !slices.Equal(set.skipped, []string{"Deployment/app"}) {
		t.Errorf("skipped = %q, want [Deployment/app]", set.skipped)
	}
	if keys := set.accessKeys(); len(keys) != 1 || keys[0] != "vb_01234567890123456789012345678901" {
		t.Errorf("the accesskey was not read from data")
	}

	write("kustomization.yaml", "namePrefix: demo-\nresources:\n- all.yaml\n")
	if _, err := loadSamples(testScheme(), dir); err == nil {
		t.Error("a kustomization with namePrefix was accepted")
	}
}
