package e2e

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/test/harness"
)

// The installer applied, every object of it, to a real API server of its own: a
// bare one, as the installer brings its own CRD.
var _ = Describe("The installed operator", Ordered, ContinueOnFailure, func() {
	var (
		installed *harness.ControlPlane
		dep       appsv1.Deployment
	)
	BeforeAll(func() {
		objs := buildInstaller()
		dir, err := os.MkdirTemp("", "voipbin-installed-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		installed, err = harness.StartControlPlane(harness.ControlPlaneOptions{Dir: dir, WithoutCRDs: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(installed.Stop)
		for _, o := range sortForInstall(objs) {
			Expect(installed.Client.Create(ctx, o.DeepCopy())).To(Succeed(), "creating %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}
		// The template as the API server stores it (defaults applied), which is
		// what the ReplicaSet controller copies into each pod.
		Expect(installed.Client.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: managerName}, &dep)).To(Succeed())
	})

	// The controls prove that the PodSecurity admission plugin runs and enforces
	// restricted there, not merely baseline.
	Context("in its namespace, which enforces the restricted Pod Security Standard", func() {
		It("is admitted: the manager's pod", func() {
			var ns corev1.Namespace
			Expect(installed.Client.Get(ctx, client.ObjectKey{Name: operatorNamespace}, &ns)).To(Succeed())
			Expect(ns.Labels).To(HaveKeyWithValue(podSecurityEnforceKey, "restricted"))
			Expect(installed.Client.Create(ctx, podFromTemplate("manager", operatorNamespace, dep.Spec.Template))).To(Succeed(),
				"the manager's pod in the restricted namespace")
		})

		It("control: a privileged pod is rejected", func() {
			privileged := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: operatorNamespace},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
					SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
			}
			Expect(installed.Client.Create(ctx, privileged)).To(isPodSecurityRejection())
		})

		// Baseline allows privilege escalation and the default capabilities;
		// only restricted refuses them.
		It("control: the manager's pod without its restrictions is rejected, and admitted where restricted is not enforced", func() {
			weakened := podFromTemplate("weakened", operatorNamespace, dep.Spec.Template)
			weakened.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
			weakened.Spec.Containers[0].SecurityContext.Capabilities = nil
			Expect(installed.Client.Create(ctx, weakened.DeepCopy())).To(isPodSecurityRejection(),
				"a pod allowing privilege escalation")
			weakened.Namespace = metav1.NamespaceDefault
			Expect(installed.Client.Create(ctx, weakened)).To(Succeed(), "the control pod in the default namespace")
		})

		It("is admitted: the consumer sample's pod", func() {
			var consumer appsv1.Deployment
			typed(kustomizeBuild("config/samples/consumer"), "Deployment", "billing", &consumer)
			Expect(installed.Client.Create(ctx, podFromTemplate("consumer", operatorNamespace, consumer.Spec.Template))).To(Succeed())
		})
	})

	// Asked of the API server with SubjectAccessReviews (authorization mode
	// RBAC): exactly what the reconciler, leader election and the metrics filter
	// use, and nothing of a sample of what it must not.
	Context("grants its service account", func() {
		BeforeAll(func() {
			// The subject of the bindings is the service account the Deployment runs as.
			Expect(dep.Namespace + "/" + dep.Spec.Template.Spec.ServiceAccountName).To(Equal(operatorNamespace + "/" + managerName))
			// The RBAC authorizer reads roles and bindings from informers: wait
			// until it has seen the ones just created (or give up and let the
			// table report what is missing).
			deadline := time.Now().Add(10 * time.Second)
			for _, check := range rbacChecks {
				for check.allowed && !reviewAccess(installed, managerName, check) && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})

		DescribeTable("exactly what it needs", func(check accessCheck) {
			Expect(reviewAccess(installed, managerName, check)).To(Equal(check.allowed), "allowed: %s", check)
		}, rbacEntries())

		// Another service account of the same namespace is refused what the
		// manager is allowed, so the rows are allowed by the installer's
		// bindings, not by some default grant.
		It("control: and none of it to the namespace's default service account", func() {
			var granted []string
			for _, check := range rbacChecks {
				if check.allowed && reviewAccess(installed, "default", check) {
					granted = append(granted, check.String())
				}
			}
			Expect(granted).To(BeEmpty())
		})
	})
})

// podFromTemplate makes the Pod a ReplicaSet would make from tmpl.
func podFromTemplate(name, namespace string, tmpl corev1.PodTemplateSpec) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec:       *tmpl.Spec.DeepCopy(),
	}
}

// accessCheck is one row of the RBAC table: whether the manager may do something.
type accessCheck struct {
	verb, group, resource, subresource, namespace string
	nonResourceURL                                string
	allowed                                       bool
}

func (a accessCheck) String() string {
	if a.nonResourceURL != "" {
		return a.verb + " " + a.nonResourceURL
	}
	s := a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.group != "" {
		s += "." + a.group
	}
	if a.namespace != "" {
		return s + " in " + a.namespace
	}
	return s + " cluster-wide"
}

// reviewAccess asks the API server of cp whether the service account name of the
// operator's namespace may do a.
func reviewAccess(cp *harness.ControlPlane, name string, a accessCheck) bool {
	GinkgoHelper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + operatorNamespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
	}}
	if a.nonResourceURL != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.nonResourceURL, Verb: a.verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Namespace: a.namespace, Verb: a.verb,
			Group: a.group, Resource: a.resource, Subresource: a.subresource}
	}
	res, err := cp.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "SubjectAccessReview %s", a)
	return res.Status.Allowed
}

// rbacEntries is a table entry for each row of rbacChecks.
func rbacEntries() []TableEntry {
	entries := make([]TableEntry, 0, len(rbacChecks))
	for _, check := range rbacChecks {
		verdict := "refused: "
		if check.allowed {
			verdict = "allowed: "
		}
		entries = append(entries, Entry(verdict+check.String(), check))
	}
	return entries
}

const (
	apps   = "apps" // any namespace of the cluster's users
	own    = operatorNamespace
	crds   = "credentials.voipbin.net"
	vbcs   = "voipbincredentials"
	leases = "leases"
	coord  = "coordination.k8s.io"
	evts   = "events.k8s.io"
)

// rbacChecks is what the manager's service account may do, and a sample of what
// it must not.
var rbacChecks = []accessCheck{
	// Its CRs: read and watch everywhere, write only status and finalizers, and
	// patch them (the finalizer that deletes issued accesskeys); never update.
	{verb: "get", group: crds, resource: vbcs, namespace: apps, allowed: true},
	{verb: "list", group: crds, resource: vbcs, allowed: true},
	{verb: "watch", group: crds, resource: vbcs, allowed: true},
	{verb: "patch", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: true},
	// The status is only ever patched (and read through the CR itself).
	{verb: "get", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: false},
	{verb: "update", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: false},
	{verb: "update", group: crds, resource: vbcs, subresource: "finalizers", namespace: apps, allowed: true},
	{verb: "create", group: crds, resource: vbcs, namespace: apps},
	{verb: "update", group: crds, resource: vbcs, namespace: apps},
	{verb: "patch", group: crds, resource: vbcs, namespace: apps, allowed: true},
	{verb: "delete", group: crds, resource: vbcs, namespace: apps},
	// Secrets: read input Secrets, server-side apply managed ones (create, patch).
	{verb: "get", resource: "secrets", namespace: apps, allowed: true},
	{verb: "list", resource: "secrets", allowed: true},
	{verb: "watch", resource: "secrets", allowed: true},
	{verb: "create", resource: "secrets", namespace: apps, allowed: true},
	{verb: "patch", resource: "secrets", namespace: apps, allowed: true},
	{verb: "update", resource: "secrets", namespace: apps},
	{verb: "delete", resource: "secrets", namespace: apps},
	{verb: "deletecollection", resource: "secrets", namespace: apps},
	// Events on its CRs (events.k8s.io); core events only in its own namespace,
	// for leader election.
	{verb: "create", group: evts, resource: "events", namespace: apps, allowed: true},
	{verb: "patch", group: evts, resource: "events", namespace: apps, allowed: true},
	{verb: "delete", group: evts, resource: "events", namespace: apps},
	{verb: "create", resource: "events", namespace: own, allowed: true},
	{verb: "create", resource: "events", namespace: apps},
	// Leader election: Leases in its own namespace only.
	{verb: "get", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "list", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "watch", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "create", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "update", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "patch", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "delete", group: coord, resource: leases, namespace: own, allowed: true},
	{verb: "get", group: coord, resource: leases, namespace: apps},
	{verb: "update", group: coord, resource: leases, namespace: "kube-system"},
	{verb: "create", group: coord, resource: leases, namespace: "kube-node-lease"},
	// The metrics filter: authenticate and authorize scrapers.
	{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", allowed: true},
	{verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews", allowed: true},
	// A sample of what it must not do.
	{verb: "get", resource: "pods", namespace: apps},
	{verb: "list", resource: "pods"},
	{verb: "create", resource: "pods", namespace: own},
	{verb: "create", resource: "pods", subresource: "exec", namespace: apps},
	{verb: "get", resource: "configmaps", namespace: apps},
	{verb: "create", resource: "configmaps", namespace: own},
	{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: apps},
	{verb: "get", group: "apps", resource: "deployments", namespace: own},
	{verb: "update", group: "apps", resource: "deployments", namespace: own},
	// Rollout restarts are off in the installer: no access to workloads at all.
	{verb: "get", group: "apps", resource: "deployments", namespace: apps},
	{verb: "patch", group: "apps", resource: "deployments", namespace: apps},
	{verb: "patch", group: "apps", resource: "statefulsets", namespace: apps},
	{verb: "patch", group: "apps", resource: "daemonsets", namespace: apps},
	{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
	{verb: "update", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
	{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
	{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
	{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
	{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: own},
	{verb: "list", resource: "namespaces"},
	{verb: "create", resource: "namespaces"},
	{verb: "get", resource: "nodes"},
	{verb: "impersonate", resource: "users"},
	{verb: "get", nonResourceURL: "/metrics"},
}
