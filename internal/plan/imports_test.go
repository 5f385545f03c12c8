package plan

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDecideImportsNoClient: the decide package knows neither a Kubernetes client
// nor HTTP nor the VoIPBIN client; only the API types and time. (Its tests may
// use more.)
func TestDecideImportsNoClient(t *testing.T) {
	forbidden := []string{"net/http", "sigs.k8s.io/controller-runtime", "k8s.io/client-go",
		"github.com/voipbin/credential-operator/internal/voipbin", "github.com/voipbin/credential-operator/internal/controller"}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", e.Name(), path)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d files; the test is not looking at the package", checked)
	}
}
