// Package testenv starts the envtest control plane for the tests of
// internal/controller. It is a thin wrapper of test/harness, which owns the
// control plane (and its binaries, CRDs and kubeconfig) for every suite; it
// goes once internal/controller's suite calls harness.StartControlPlane itself.
package testenv

import (
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/voipbin/credential-operator/test/harness"
)

// Start starts a control plane with the CRDs of config/crd/bases installed
// (harness.StartControlPlane). Call Stop on the returned environment when done.
func Start() (*envtest.Environment, *rest.Config, error) {
	cp, err := harness.StartControlPlane(harness.ControlPlaneOptions{})
	if err != nil {
		return nil, nil, err
	}
	return cp.Env, cp.Config, nil
}
