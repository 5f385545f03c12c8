// Package install installs the Helm chart into a real API server (envtest) with
// helm itself, in namespaces that enforce the restricted Pod Security Standard,
// with its defaults and in the namespaced mode, and checks what a cluster admin
// would: every object is created, the manager's pod is admitted (server-side dry
// run: envtest runs no kubelet), the manager's permissions are exactly the ones it
// needs (SubjectAccessReviews), and in the namespaced mode the manager does its job
// with nothing more than the chart's Roles.
package install

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/test/harness"
	"github.com/voipbin/credential-operator/test/manifests"
)

// The suite's control plane, its admin client, a scratch folder for the rendered
// charts, and the manager binary the namespaced spec runs.
var (
	ctx        = context.Background()
	cp         *harness.ControlPlane
	k8s        client.Client
	dir        string
	managerBin string
)

func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Helm chart install")
}

var _ = BeforeSuite(func() {
	var err error
	dir, err = os.MkdirTemp("", "voipbin-install-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	_, err = manifests.Tool("helm")
	Expect(err).NotTo(HaveOccurred())

	// The build and the control plane take about as long: do both at once.
	built := make(chan error, 1)
	go func() {
		var err error
		managerBin, err = harness.BuildManager(dir)
		built <- err
	}()
	// A bare API server: the chart brings the CRD.
	cp, err = harness.StartControlPlane(harness.ControlPlaneOptions{Dir: dir, WithoutCRDs: true})
	buildErr := <-built
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	Expect(buildErr).NotTo(HaveOccurred())
	// The harness's scheme, plus the CRD's type.
	scheme := harness.Scheme()
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cp.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
})

// helm runs the pinned helm against the control plane and returns its output.
func helm(args ...string) string {
	GinkgoHelper()
	bin, err := manifests.Tool("helm")
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, append(args, "--kubeconfig", cp.Kubeconfig)...)
	// Helm's caches and config stay in the suite's folder.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir+"/helm/cache", "HELM_CONFIG_HOME="+dir+"/helm/config",
		"HELM_DATA_HOME="+dir+"/helm/data")
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "helm %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// helmInstall installs the chart as release into namespace and returns the objects
// of the release's manifest, as helm recorded them.
func helmInstall(release, namespace string, args ...string) []*unstructured.Unstructured {
	GinkgoHelper()
	helm(append([]string{"install", release, manifests.Path(manifests.ChartDir), "--namespace", namespace}, args...)...)
	objs, err := manifests.Decode([]byte(helm("get", "manifest", release, "--namespace", namespace)))
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).NotTo(BeEmpty())
	return objs
}

// createNamespace creates a namespace, enforcing the restricted Pod Security
// Standard if restricted.
func createNamespace(name string, restricted bool) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if restricted {
		ns.Labels = map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		}
	}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
}
