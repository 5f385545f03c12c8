package install

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/test/manifests"
)

const crdName = "voipbincredentials.credentials.voipbin.net"

// expectEveryObjectCreated reads back each object of a release's manifest.
func expectEveryObjectCreated(objs []*unstructured.Unstructured) {
	GinkgoHelper()
	for _, o := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(o), got)).To(Succeed(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
	}
}

// managerPod is the pod a ReplicaSet would make from the manager Deployment as the
// API server stores it (defaults applied).
func managerPod(namespace, deployment string) *corev1.Pod {
	GinkgoHelper()
	var dep appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: deployment}, &dep)).To(Succeed())
	tmpl := dep.Spec.Template
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: deployment + "-", Namespace: namespace, Labels: tmpl.Labels,
			Annotations: tmpl.Annotations},
		Spec: *tmpl.Spec.DeepCopy(),
	}
}

// dryRunCreate asks the API server to admit pod without storing it.
func dryRunCreate(pod *corev1.Pod) error {
	return k8s.Create(ctx, pod, client.DryRunAll)
}

func isPodSecurityRejection(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `violates PodSecurity "restricted`)
}

// expectManagerPodAdmitted dry-runs the manager's pod in its restricted namespace,
// with the controls that show restricted is enforced there: the same pod without
// its restrictions is refused, and admitted where nothing is enforced.
func expectManagerPodAdmitted(namespace, deployment string) {
	GinkgoHelper()
	pod := managerPod(namespace, deployment)
	Expect(dryRunCreate(pod.DeepCopy())).To(Succeed(), "the manager's pod in the restricted namespace %s", namespace)

	weakened := pod.DeepCopy()
	weakened.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	weakened.Spec.Containers[0].SecurityContext.Capabilities = nil
	Expect(isPodSecurityRejection(dryRunCreate(weakened.DeepCopy()))).To(BeTrue(),
		"control: the pod without its restrictions must be refused in %s", namespace)
	weakened.Namespace = metav1.NamespaceDefault
	weakened.Spec.ServiceAccountName = "" // the manager's account exists only in its namespace
	Expect(dryRunCreate(weakened)).To(Succeed(), "control: the weakened pod where restricted is not enforced")
}

// One ordered container: the namespaced release reuses the defaults' CRD, and the
// uninstall comes last.
var _ = Describe("the chart", Ordered, func() {

	Describe("with its defaults", Ordered, func() {
		const (
			release   = "voipbin-credential-operator"
			namespace = "vco-defaults"
			manager   = release + "-controller-manager"
		)
		var objs []*unstructured.Unstructured

		BeforeAll(func() {
			createNamespace(namespace, true)
			objs = helmInstall(release, namespace)
		})

		It("creates every object, the CRD among them", func() {
			expectEveryObjectCreated(objs)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
			}
			for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
				"RoleBinding", "Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy"} {
				Expect(kinds).To(ContainElement(kind))
			}
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(k8s.Get(ctx, client.ObjectKey{Name: crdName}, &crd)).To(Succeed())
			Expect(crd.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKey{Name: crdName}, &crd)).To(Succeed())
				established := false
				for _, c := range crd.Status.Conditions {
					established = established || (c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue)
				}
				g.Expect(established).To(BeTrue())
			}).Should(Succeed())
		})

		It("has a manager pod the restricted Pod Security Standard admits", func() {
			expectManagerPodAdmitted(namespace, manager)
		})

		It("runs the manager with the pinned image, not latest", func() {
			pod := managerPod(namespace, manager)
			Expect(pod.Spec.Containers[0].Image).To(MatchRegexp(`^ghcr\.io/voipbin/credential-operator:v\d+\.\d+\.\d+`))
			Expect(ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 0)).To(BeNumerically(">", 15+10),
				"a stop must leave time for a 15s VoIPBIN call and the write of its token")
		})
	})

	Describe("with watchNamespaces", Ordered, func() {
		const (
			release   = "vco-ns"
			namespace = "vco-namespaced"
			manager   = release + "-voipbin-credential-operator-controller-manager"
		)
		watched := []string{"apps", "billing"}
		var objs []*unstructured.Unstructured

		BeforeAll(func() {
			createNamespace(namespace, true)
			for _, ns := range append(watched, "other") {
				createNamespace(ns, true)
			}
			// The CRD is the first release's: a second release of the chart leaves it out.
			objs = helmInstall(release, namespace, "--set", "watchNamespaces={"+strings.Join(watched, ",")+"}",
				"--set", "crds.enabled=false", "--set", "rolloutRestarts.enabled=true")
		})

		It("creates every object, and the manager's Roles only in the watched namespaces", func() {
			expectEveryObjectCreated(objs)
			var roleNamespaces []string
			for _, o := range objs {
				if o.GetKind() == "Role" && strings.HasSuffix(o.GetName(), "-manager-role") {
					roleNamespaces = append(roleNamespaces, o.GetNamespace())
				}
			}
			Expect(roleNamespaces).To(ConsistOf(watched))

			// No ClusterRole bound to the manager grants anything on Secrets.
			var bindings rbacv1.ClusterRoleBindingList
			Expect(k8s.List(ctx, &bindings)).To(Succeed())
			for _, b := range bindings.Items {
				for _, s := range b.Subjects {
					if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != namespace || s.Name != manager {
						continue
					}
					var role rbacv1.ClusterRole
					Expect(k8s.Get(ctx, client.ObjectKey{Name: b.RoleRef.Name}, &role)).To(Succeed())
					for _, rule := range role.Rules {
						Expect(rule.Resources).NotTo(ContainElement("secrets"), "ClusterRole %s", role.Name)
						Expect(rule.Resources).NotTo(ContainElement("*"), "ClusterRole %s", role.Name)
					}
				}
			}
		})

		It("has a manager pod the restricted Pod Security Standard admits", func() {
			pod := managerPod(namespace, manager)
			Expect(pod.Spec.Containers[0].Args).To(ContainElement("--watch-namespaces=" + strings.Join(watched, ",")))
			Expect(pod.Spec.Containers[0].Args).To(ContainElement("--enable-rollout-restarts"))
			expectManagerPodAdmitted(namespace, manager)
		})

		It("gives the manager no access to Secrets outside the watched namespaces", func() {
			sa := serviceAccount{namespace: namespace, name: manager}
			checks := namespacedAccessTable(namespace, watched)
			expectAccess(sa, checks)

			// Control: the defaults' manager may read Secrets cluster-wide, so the rows
			// that deny it above are denied by the namespaced install, not by the table.
			defaults := serviceAccount{namespace: "vco-defaults", name: "voipbin-credential-operator-controller-manager"}
			for _, c := range []accessCheck{
				{verb: "list", resource: "secrets"},
				{verb: "get", resource: "secrets", namespace: "other"},
				{verb: "watch", group: vbcGroup, resource: "voipbincredentials"},
			} {
				Expect(review(defaults, c)).To(BeTrue(), "control: the defaults' manager may %s", c)
			}
			// And rollout restarts are off by default: no access to workloads.
			for _, c := range []accessCheck{
				{verb: "get", group: "apps", resource: "deployments", namespace: "apps"},
				{verb: "patch", group: "apps", resource: "deployments", namespace: "apps"},
				{verb: "patch", group: "apps", resource: "statefulsets", namespace: "apps"},
			} {
				Expect(review(defaults, c)).To(BeFalse(), "the defaults' manager may %s", c)
			}
		})

		It("works with nothing more than these permissions, and gives the Reloader sample its annotation", func() {
			runNamespacedManager(namespace, manager, watched)
		})
	})

	Describe("with every value set", Ordered, func() {
		It("renders objects the API server accepts under strict validation, and a pod it admits", func() {
			const namespace = "vco-allvalues"
			createNamespace(namespace, true)
			Expect(k8s.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "voipbin-operators"},
				Value: 1000000})).To(Succeed())
			// Another name: the defaults' release holds the cluster-wide names.
			objs, err := manifests.HelmTemplate(namespace, "-f", manifests.Path("test/chart/testdata/all-values.yaml"),
				"--set", "crds.enabled=false", "--set", "fullnameOverride=vco-all")
			Expect(err).NotTo(HaveOccurred())
			var dep *unstructured.Unstructured
			for _, o := range objs {
				Expect(k8s.Create(ctx, o.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict"))).To(Succeed(),
					"%s %s", o.GetKind(), o.GetName())
				if o.GetKind() == "Deployment" {
					dep = o
				}
			}
			Expect(dep).NotTo(BeNil())
			var d appsv1.Deployment
			Expect(manifests.Convert(dep, &d)).To(Succeed())
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "manager-", Namespace: namespace,
				Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
			pod.Spec.ServiceAccountName = "" // the dry run created no account
			Expect(dryRunCreate(pod)).To(Succeed(), "the manager's pod with every value set, under restricted")
		})
	})

	Describe("helm uninstall", Ordered, func() {
		It("leaves the CRD, and the VoipbinCredentials with it", func() {
			helm("uninstall", "vco-ns", "--namespace", "vco-namespaced")
			helm("uninstall", "voipbin-credential-operator", "--namespace", "vco-defaults")
			var crd apiextensionsv1.CustomResourceDefinition
			Consistently(func() error { return k8s.Get(ctx, client.ObjectKey{Name: crdName}, &crd) }, "2s").Should(Succeed())
			Expect(crd.DeletionTimestamp).To(BeNil())
			var vbc v1alpha1.VoipbinCredential
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "apps", Name: reloaderCredential}, &vbc)).To(Succeed(),
				"the credential of the namespaced spec outlives the chart")
			var dep appsv1.Deployment
			err := k8s.Get(ctx, client.ObjectKey{Namespace: "vco-defaults", Name: "voipbin-credential-operator-controller-manager"}, &dep)
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "control: the release's Deployment is gone: %v", err)
		})
	})

})

// accessCheck is one row of an access table: may the manager do this?
type accessCheck struct {
	verb, group, resource, subresource, namespace string
	allowed                                       bool
}

func (a accessCheck) String() string {
	s := a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.group != "" {
		s += "." + a.group
	}
	if a.namespace == "" {
		return s + " cluster-wide"
	}
	return fmt.Sprintf("%s in %s", s, a.namespace)
}
