package harness

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/testenv"
)

// AdminUser is the user of the kubeconfig a ControlPlane writes: a member of
// system:masters, as a cluster admin running the operator from a laptop would be.
const AdminUser = "admin"

// Scheme returns a scheme with the built-in types and the operator's API.
func Scheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return scheme
}

// ControlPlaneOptions configures StartControlPlane.
type ControlPlaneOptions struct {
	// Dir is the folder the admin kubeconfig is written to (required).
	Dir string
	// WithoutCRDs starts a bare API server, for installers that bring their own CRDs.
	WithoutCRDs bool
	// QPS and Burst of Config and Client; zero keeps client-go's defaults. Tests that
	// list and watch many objects every second raise them.
	QPS   float32
	Burst int
}

// ControlPlane is a running envtest control plane.
type ControlPlane struct {
	// Env is the envtest environment; Stop stops it.
	Env *envtest.Environment
	// Config reaches the API server as an admin.
	Config *rest.Config
	// Client is an uncached client of Config with Scheme: every read goes to the
	// API server, so tests see what it holds, not what a cache last saw.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file of AdminUser, for child processes
	// (the manager's --kubeconfig, a developer's kubectl).
	Kubeconfig string
}

// StartControlPlane starts kube-apiserver and etcd (KUBEBUILDER_ASSETS, or the
// binaries hack/envtest.sh builds) with the CRDs of config/crd/bases, and writes
// the admin kubeconfig into o.Dir. On error, whatever was started is stopped.
func StartControlPlane(o ControlPlaneOptions) (*ControlPlane, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("harness: ControlPlaneOptions.Dir is required")
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if !o.WithoutCRDs {
		env.CRDDirectoryPaths = []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")}
		env.ErrorIfCRDPathMissing = true
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane from %s: %w", assets, err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	if err := cp.connect(o); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

// connect makes the client and writes the kubeconfig.
func (cp *ControlPlane) connect(o ControlPlaneOptions) error {
	if o.QPS > 0 {
		cp.Config.QPS, cp.Config.Burst = o.QPS, o.Burst
	}
	c, err := client.New(cp.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	cp.Client = c
	cp.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	return cp.WriteKubeconfig(cp.Kubeconfig, AdminUser, "system:masters")
}

// WriteKubeconfig writes a kubeconfig of a user of the given groups to path.
func (cp *ControlPlane) WriteKubeconfig(path, user string, groups ...string) error {
	u, err := cp.Env.ControlPlane.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		return fmt.Errorf("adding the user %s: %w", user, err)
	}
	kubeconfig, err := u.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, kubeconfig, 0o600)
}

// Stop stops the control plane; nil is a no-op.
func (cp *ControlPlane) Stop() error {
	if cp == nil || cp.Env == nil {
		return nil
	}
	return cp.Env.Stop()
}
