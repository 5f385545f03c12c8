package harness

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// AdminUser is the user of the kubeconfig a ControlPlane writes: a member of
// system:masters, as a cluster admin running the operator from a laptop would be.
const AdminUser = "admin"

// envtestVersion is the Kubernetes version hack/envtest.sh builds the control
// plane of, and so the folder below bin/k8s/ it is found in.
const envtestVersion = "1.37.2"

// RepoRoot returns the repository root (the folder of the main go.mod), found
// from this file's path at build time: right for go test and go run, and for
// programs built without -trimpath on this machine (make soak, make bench).
// Programs take a --root flag for the other cases.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir returns where kube-apiserver and etcd are: KUBEBUILDER_ASSETS if
// set, else the folder hack/envtest.sh builds them into.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir := filepath.Join(RepoRoot(), "bin", "k8s", fmt.Sprintf("%s-%s-%s", envtestVersion, goruntime.GOOS, goruntime.GOARCH))
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("no envtest control plane in %s: run 'make envtest' (or 'make test') first", dir)
	}
	return dir, nil
}

// Scheme returns a scheme with the built-in types and the operator's API.
func Scheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return scheme
}

// ControlPlaneOptions configures StartControlPlane.
type ControlPlaneOptions struct {
	// Dir is the folder the admin kubeconfig is written to; empty: none is
	// written (tests that only use Config and Client in-process).
	Dir string
	// Root is the repository root whose config/crd/bases are installed; empty:
	// RepoRoot().
	Root string
	// WithoutCRDs starts a bare API server, for installers that bring their own CRDs.
	WithoutCRDs bool
	// QPS and Burst of Config and the clients; zero keeps envtest's (1000 and
	// 2000).
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
	// Clientset is a typed clientset of Config, for what Client does not do
	// (tokens, SubjectAccessReviews, discovery).
	Clientset kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file of AdminUser, for child processes
	// (the manager's --kubeconfig, a developer's kubectl); empty without Dir.
	Kubeconfig string
}

// StartControlPlane starts kube-apiserver and etcd (AssetsDir) with the CRDs of
// config/crd/bases, and writes the admin kubeconfig into o.Dir. On error,
// whatever was started is stopped.
func StartControlPlane(o ControlPlaneOptions) (*ControlPlane, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if !o.WithoutCRDs {
		root := o.Root
		if root == "" {
			root = RepoRoot()
		}
		env.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd", "bases")}
		env.ErrorIfCRDPathMissing = true
	}
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after etcd and the API server are up (installing the
		// CRDs), and does not stop them itself.
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane from %s: %w", assets, err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	if err := cp.connect(o); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

// connect makes the clients and writes the kubeconfig.
func (cp *ControlPlane) connect(o ControlPlaneOptions) error {
	if o.QPS > 0 {
		cp.Config.QPS, cp.Config.Burst = o.QPS, o.Burst
	}
	c, err := client.New(cp.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	cp.Client = c
	if cp.Clientset, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return err
	}
	if o.Dir == "" {
		return nil
	}
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
