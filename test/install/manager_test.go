package install

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
	"github.com/voipbin/credential-operator/test/manifests"
)

// The Reloader sample's names (config/samples/reloader).
const (
	reloaderCredential = "dialer-env"
	reloaderSecret     = "dialer-env-voipbin"
	reloaderDeployment = "dialer"
	reloaderMatch      = "reloader.stakater.com/match"
)

// runNamespacedManager runs the manager binary as the namespaced release's service
// account (a kubeconfig of that user: RBAC sees the account itself), with the
// release's arguments, leader election on, against the VoIPBIN stand-in, and applies
// the Reloader sample in the first watched namespace, its consumer a rollout
// restart target (the release has rolloutRestarts.enabled): the manager logs in and
// writes the Secret with the sample's annotation, holds its Lease, and is never
// refused anything by the API server.
func runNamespacedManager(own, account string, watched []string) {
	GinkgoHelper()
	sa := serviceAccount{namespace: own, name: account}
	kubeconfig := filepath.Join(dir, "namespaced-manager.kubeconfig")
	Expect(cp.WriteKubeconfig(kubeconfig, sa.user(), sa.groups()...)).To(Succeed())

	api := voipbintest.New()
	standIn, err := harness.ServeStandIn(api.Handler())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(standIn.Close)
	ns := watched[0]
	password := harness.RandomString(20)
	api.AddAgent("dialer@example.com", password, "")
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "voipbin-login", Namespace: ns},
		StringData: map[string]string{"username": "dialer@example.com", "password": password},
	})).To(Succeed())

	sample, err := manifests.KustomizeBuild("config/samples/reloader")
	Expect(err).NotTo(HaveOccurred())
	for _, o := range sample {
		o.SetNamespace(ns)
		if o.GetKind() == "VoipbinCredential" {
			Expect(unstructured.SetNestedField(o.Object, standIn.URL, "spec", "apiURL")).To(Succeed())
			// The install has rolloutRestarts.enabled: the sample's consumer is a target.
			Expect(unstructured.SetNestedSlice(o.Object, []any{map[string]any{"kind": "Deployment", "name": reloaderDeployment}},
				"spec", "rolloutRestartTargets")).To(Succeed())
		}
		Expect(k8s.Create(ctx, o)).To(Succeed(), "the Reloader sample's %s %s", o.GetKind(), o.GetName())
	}
	// The sample's consumer passes the restricted Pod Security Standard too.
	Expect(dryRunCreate(managerPod(ns, reloaderDeployment))).To(Succeed())

	mgr, err := harness.StartManager(harness.ManagerOptions{
		Binary:          managerBin,
		Kubeconfig:      kubeconfig,
		AllowedAPIURLs:  []string{standIn.URL},
		WatchNamespaces: watched,
		Args: []string{"--leader-elect", "--leader-election-namespace=" + own, "--api-timeout=5s",
			"--enable-rollout-restarts"},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Printf("manager log, last lines:\n%s\n", mgr.LogTail(40))
		}
		_, err := mgr.Stop()
		Expect(err).NotTo(HaveOccurred())
	})

	Eventually(func(g Gomega) {
		var s corev1.Secret
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: reloaderSecret}, &s)).To(Succeed())
		g.Expect(s.Annotations).To(HaveKeyWithValue(reloaderMatch, "true"))
		g.Expect(s.Data).To(HaveKey("token"))
		g.Expect(s.Data).To(HaveKeyWithValue("apiURL", []byte(standIn.URL)))
	}).Should(Succeed(), "the managed Secret with Reloader's annotation")
	Eventually(func(g Gomega) {
		var vbc v1alpha1.VoipbinCredential
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: reloaderCredential}, &vbc)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(vbc.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	}).Should(Succeed())
	Expect(api.LoginCount("dialer@example.com")).To(Equal(1))

	// Rollout restarts with the namespaced Role: the consumer is recorded on its
	// first sighting, and restarted after a new token.
	restartedFor := func() string {
		var d appsv1.Deployment
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: reloaderDeployment}, &d)).To(Succeed())
		return d.Annotations[v1alpha1.RestartedForAnnotation(reloaderCredential)] + " " +
			d.Spec.Template.Annotations[v1alpha1.AnnotationRestartedAt]
	}
	secretHash := func() string {
		var s corev1.Secret
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: reloaderSecret}, &s)).To(Succeed())
		return s.Annotations[v1alpha1.AnnotationDataHash]
	}
	baseline := secretHash()
	Eventually(restartedFor).Should(Equal(baseline+" "), "the consumer's baseline, without a restart")
	time.Sleep(1100 * time.Millisecond) // stand-in tokens of the same second are alike
	var vbc v1alpha1.VoipbinCredential
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: reloaderCredential}, &vbc)).To(Succeed())
	original := vbc.DeepCopy()
	metav1.SetMetaDataAnnotation(&vbc.ObjectMeta, v1alpha1.AnnotationRefreshRequestedAt, "install-test")
	Expect(k8s.Patch(ctx, &vbc, client.MergeFrom(original))).To(Succeed())
	Eventually(secretHash).ShouldNot(Equal(baseline), "the new token stored")
	Eventually(func() []string { return strings.Fields(restartedFor()) }).Should(And(HaveLen(2), HaveExactElements(
		secretHash(), Not(BeEmpty()))), "restarted for the new token: the pod template has restartedAt")
	Expect(api.LoginCount("dialer@example.com")).To(Equal(2))

	var leases coordinationv1.LeaseList
	Expect(k8s.List(ctx, &leases, client.InNamespace(own))).To(Succeed())
	Expect(leases.Items).To(ContainElement(HaveField("ObjectMeta.Name", "voipbin-credential-operator.credentials.voipbin.net")))

	// The API server refused the manager nothing: the Roles hold all it needs.
	Consistently(mgr.Logs, "2s").ShouldNot(MatchRegexp(refusal))

	// Control: the pattern matches the API server's refusal of that account, as
	// client-go would log it (a namespace it has no Role in).
	saConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	saClient, err := client.New(saConfig, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	err = saClient.List(ctx, &corev1.SecretList{}, client.InNamespace("other"))
	Expect(err).To(HaveOccurred())
	Expect(err.Error()).To(MatchRegexp(refusal))
}

// refusal matches an API server's refusal of a request, as the manager would log it.
const refusal = `(?i)forbidden|cannot (list|watch|get|create|patch)`
