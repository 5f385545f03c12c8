package binary

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/test/harness"
)

func TestBinary(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "The operator as it ships")
}

var (
	ctx        = context.Background()
	cp         *harness.ControlPlane
	k8s        client.Client
	managerBin string
)

var _ = BeforeSuite(func() {
	dir, err := os.MkdirTemp("", "voipbin-binary-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	managerBin, cp, err = harness.BuildManagerAndStartControlPlane(harness.ControlPlaneOptions{Dir: dir})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	k8s = cp.Client

	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
})

// startManager starts the built manager against the control plane (the harness
// adds the kubeconfig, the probe address and the highest log verbosity) and
// stops it when the spec ends, showing its last lines if the spec failed.
func startManager(o harness.ManagerOptions) *harness.Manager {
	GinkgoHelper()
	o.Binary, o.Kubeconfig = managerBin, cp.Kubeconfig
	mgr, err := harness.StartManager(o)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Printf("manager log, last lines:\n%s\n", mgr.LogTail(40))
		}
		_, err := mgr.Stop()
		Expect(err).NotTo(HaveOccurred())
	})
	return mgr
}
