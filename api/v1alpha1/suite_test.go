package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/test/harness"
)

// These tests run the CRD's validation (schema, defaults, CEL) in a real API server.
func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VoipbinCredential API Suite")
}

var (
	k8sClient client.Client
	ctx       = context.Background()
)

var _ = BeforeSuite(func() {
	cp, err := harness.StartControlPlane(harness.ControlPlaneOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	k8sClient = cp.Client
})
