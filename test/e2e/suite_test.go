package e2e

import (
	"context"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/test/harness"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager binary end to end")
}

var (
	ctx        = context.Background()
	cp         *harness.ControlPlane
	k8s        client.Client
	managerBin string
	scanner    = harness.NewLeakScanner()

	// managers are the managers of every spec, by the name their logs are
	// scanned under, kept for the final leak scan.
	managersMu sync.Mutex
	managers   = map[string]*harness.Manager{}
)

var _ = BeforeSuite(func() {
	dir, err := os.MkdirTemp("", "voipbin-e2e-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)

	managerBin, cp, err = harness.BuildManagerAndStartControlPlane(harness.ControlPlaneOptions{Dir: dir})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	k8s = cp.Client

	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(200 * time.Millisecond)
})

// The leak scan runs after the last spec, over everything every spec produced.
// Ginkgo runs the cleanups registered in BeforeSuite after AfterSuite, so the
// control plane is still up here.
var _ = AfterSuite(func() {
	scanEverything()
})

// startManager starts the built manager against the control plane (the harness
// adds the kubeconfig, the probe address and the highest log verbosity), keeps
// it for the final leak scan as the manager of name, and stops it when the spec
// ends, showing its last lines if the spec failed.
func startManager(name string, o harness.ManagerOptions) *harness.Manager {
	GinkgoHelper()
	o.Binary, o.Kubeconfig = managerBin, cp.Kubeconfig
	mgr, err := harness.StartManager(o)
	Expect(err).NotTo(HaveOccurred())
	managersMu.Lock()
	managers[name] = mgr
	managersMu.Unlock()
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Printf("manager log, last lines:\n%s\n", mgr.LogTail(30))
		}
		_, err := mgr.Stop()
		Expect(err).NotTo(HaveOccurred())
	})
	return mgr
}

// scanEverything scans every manager's logs, every event and every status in the
// cluster for every password, token and accesskey any spec used.
func scanEverything() {
	managersMu.Lock()
	all := maps.Clone(managers)
	managersMu.Unlock()
	if len(all) == 0 {
		return // only specs without a manager were focused: nothing to scan
	}

	var logs strings.Builder
	var leaks []harness.Leak
	for _, name := range sortedKeys(all) {
		text := all[name].Logs()
		logs.WriteString(text)
		leaks = append(leaks, scanner.Scan("logs of the manager of "+name, text)...)
	}
	cluster, err := harness.ReadClusterText(ctx, k8s, "")
	Expect(err).NotTo(HaveOccurred())
	events, statuses := cluster.Events, cluster.Credentials
	sources := map[string]string{"logs": logs.String(), "events": events, "status": statuses}
	for _, source := range sortedKeys(sources) {
		leaks = append(leaks, scanner.Scan(source, sources[source])...)
	}
	GinkgoWriter.Printf("leak scan: %d secrets, %d managers, %d bytes of logs, %d of events, %d of statuses\n",
		scanner.Secrets(), len(all), logs.Len(), len(events), len(statuses))
	Expect(leaks).To(BeEmpty(), "secrets leaked")

	// Controls: the logs are at the highest verbosity; the scanner finds a planted
	// secret in every form in each source; and, on the real text, it finds what is
	// there: every source names the namespace of a credential that still exists.
	Expect(logs.String()).To(ContainSubstring(`"level":"debug"`), "the logs hold no debug lines")
	Expect(scanner.Secrets()).To(BeNumerically(">=", 10), "the scan knew too few secrets to mean anything")
	remaining := &v1alpha1.VoipbinCredentialList{}
	Expect(k8s.List(ctx, remaining)).To(Succeed())
	Expect(remaining.Items).NotTo(BeEmpty())
	present := harness.NewLeakScanner()
	present.Add("control", remaining.Items[0].Namespace)
	for _, source := range sortedKeys(sources) {
		Expect(harness.ProveFinds(sources[source])).To(Succeed(), "positive control on the %s", source)
		Expect(present.Scan(source, sources[source])).NotTo(BeEmpty(),
			"the %s do not name namespace %s", source, remaining.Items[0].Namespace)
	}
}
