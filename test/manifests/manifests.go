// Package manifests renders what a user installs, the Helm chart and the kustomize
// layouts of config/, into objects that tests compare, score and apply. It runs the
// pinned tools make installs into bin/ (helm, kustomize, kube-score) and, like
// test/harness, reports failures as errors and imports no test framework.
package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	// ChartDir is the chart's folder, relative to the repository root.
	ChartDir = "charts/voipbin-credential-operator"
	// Release is the release name that gives the chart's objects the names of the
	// kustomize installer (config/default's namePrefix).
	Release = "voipbin-credential-operator"
	// Namespace is config/default's namespace.
	Namespace = "voipbin-credential-operator-system"
)

// repoRoot is the repository's root: this file is test/manifests/manifests.go.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Path returns a path of the repository.
func Path(rel string) string {
	return filepath.Join(repoRoot(), rel)
}

// Tool returns the path of a pinned tool of bin/ (helm, kustomize, kube-score);
// an environment variable of its name in capitals (HELM, KUSTOMIZE, KUBE_SCORE)
// overrides it, as in the Makefile.
func Tool(name string) (string, error) {
	bin := os.Getenv(strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	if bin == "" {
		bin = Path(filepath.Join("bin", name))
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no %s at %s: run 'make %s' (make test installs it)", name, bin, name)
	}
	return bin, nil
}

// Run runs a pinned tool and returns its standard output; the error carries its
// standard error.
func Run(tool string, args ...string) ([]byte, error) {
	bin, err := Tool(tool)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// HelmTemplate renders the chart as release Release in namespace, with extra
// arguments such as --set or -f.
func HelmTemplate(namespace string, args ...string) ([]*unstructured.Unstructured, error) {
	out, err := Run("helm", append([]string{"template", Release, Path(ChartDir), "--namespace", namespace}, args...)...)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// KustomizeBuild builds a folder of the repository, such as config/default.
func KustomizeBuild(dir string) ([]*unstructured.Unstructured, error) {
	out, err := Run("kustomize", "build", Path(dir))
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// Decode splits a multi-document YAML stream into objects; empty documents are
// dropped.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding YAML: %w", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Find returns the object of that kind and name (in namespace, "" for any), or nil.
func Find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name && (namespace == "" || o.GetNamespace() == namespace) {
			return o
		}
	}
	return nil
}

// OfKind returns the objects of that kind.
func OfKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	return found
}

// Convert converts u into a typed object such as an appsv1.Deployment.
func Convert(u *unstructured.Unstructured, into any) error {
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("converting %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
