package e2e

import (
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/voipbin/credential-operator/test/harness"
	"github.com/voipbin/credential-operator/test/manifests"
)

// The names config/default gives the manager's objects (namespace and namePrefix);
// the README, the ServiceMonitor's comments and the RBAC advice use them.
const (
	operatorNamespace     = "voipbin-credential-operator-system"
	managerName           = "voipbin-credential-operator-controller-manager"
	metricsServiceName    = "voipbin-credential-operator-controller-manager-metrics-service"
	installerTestImage    = "example.com/voipbin-credential-operator:v0.1.0"
	podSecurityEnforceKey = "pod-security.kubernetes.io/enforce"
)

// kustomizeBinary returns the kustomize that make installs (make test depends on
// it), or $KUSTOMIZE.
func kustomizeBinary() string {
	GinkgoHelper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		bin = filepath.Join(harness.RepoRoot(), "bin", "kustomize")
	}
	_, err := os.Stat(bin)
	Expect(err).NotTo(HaveOccurred(), "no kustomize: run 'make kustomize' (or 'make test') first")
	return bin
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(data []byte) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := manifests.Decode(data)
	Expect(err).NotTo(HaveOccurred(), "decoding YAML")
	return objs
}

// kustomizeBuild builds one folder of config/.
func kustomizeBuild(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	out, err := exec.Command(kustomizeBinary(), "build", filepath.Join(harness.RepoRoot(), dir)).Output()
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	return decodeObjects(out)
}

// buildInstaller runs what make build-installer runs, into a temporary file, and
// checks that it left config/ as it was (kustomize edit set image rewrites
// config/manager/kustomization.yaml if run in place).
func buildInstaller() []*unstructured.Unstructured {
	GinkgoHelper()
	root := harness.RepoRoot()
	managerKustomization := filepath.Join(root, "config", "manager", "kustomization.yaml")
	before, err := os.ReadFile(managerKustomization)
	Expect(err).NotTo(HaveOccurred())
	out := filepath.Join(GinkgoT().TempDir(), "install.yaml")
	cmd := exec.Command(filepath.Join(root, "hack", "build-installer.sh"), installerTestImage, out)
	cmd.Env = append(os.Environ(), "KUSTOMIZE="+kustomizeBinary())
	combined, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "hack/build-installer.sh:\n%s", combined)
	Expect(os.ReadFile(managerKustomization)).To(Equal(before), "building the installer changed config/manager/kustomization.yaml")
	data, err := os.ReadFile(out)
	Expect(err).NotTo(HaveOccurred())
	return decodeObjects(data)
}

// findObject returns the object of the given kind and name.
func findObject(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	Fail("no " + kind + " " + name + " in the manifests")
	return nil
}

// typed converts the object of the given kind and name into into.
func typed(objs []*unstructured.Unstructured, kind, name string, into any) {
	GinkgoHelper()
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(findObject(objs, kind, name).Object, into)).
		To(Succeed(), "converting %s %s", kind, name)
}
