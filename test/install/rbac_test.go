package install

import (
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const vbcGroup = "credentials.voipbin.net"

// serviceAccount names the account whose access a table checks.
type serviceAccount struct{ namespace, name string }

func (sa serviceAccount) user() string {
	return "system:serviceaccount:" + sa.namespace + ":" + sa.name
}

func (sa serviceAccount) groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"}
}

// review asks the API server whether sa may do c.
func review(sa serviceAccount, c accessCheck) bool {
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: sa.user(), Groups: sa.groups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: c.namespace, Verb: c.verb, Group: c.group,
			Resource: c.resource, Subresource: c.subresource},
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return res.Status.Allowed
}

// expectAccess checks every row. The RBAC authorizer learns of new roles through
// informers, so the allowed rows are first awaited.
func expectAccess(sa serviceAccount, checks []accessCheck) {
	for _, c := range checks {
		if c.allowed {
			Eventually(func() bool { return review(sa, c) }, 10*time.Second).Should(BeTrue(), "%s may %s", sa.name, c)
		}
	}
	for _, c := range checks {
		Expect(review(sa, c)).To(Equal(c.allowed), "%s may %s: want %t", sa.name, c, c.allowed)
	}
}

// namespacedAccessTable is the access of the manager of a namespaced install: its
// rules in each watched namespace, leader election in its own, the metrics filter's
// reviews, and nothing cluster-wide or in any other namespace, its own included.
func namespacedAccessTable(own string, watched []string) []accessCheck {
	var checks []accessCheck
	for _, ns := range watched {
		checks = append(checks,
			accessCheck{verb: "get", resource: "secrets", namespace: ns, allowed: true},
			accessCheck{verb: "list", resource: "secrets", namespace: ns, allowed: true},
			accessCheck{verb: "watch", resource: "secrets", namespace: ns, allowed: true},
			accessCheck{verb: "create", resource: "secrets", namespace: ns, allowed: true},
			accessCheck{verb: "patch", resource: "secrets", namespace: ns, allowed: true},
			accessCheck{verb: "update", resource: "secrets", namespace: ns},
			accessCheck{verb: "delete", resource: "secrets", namespace: ns},
			accessCheck{verb: "get", group: vbcGroup, resource: "voipbincredentials", namespace: ns, allowed: true},
			accessCheck{verb: "list", group: vbcGroup, resource: "voipbincredentials", namespace: ns, allowed: true},
			accessCheck{verb: "watch", group: vbcGroup, resource: "voipbincredentials", namespace: ns, allowed: true},
			accessCheck{verb: "patch", group: vbcGroup, resource: "voipbincredentials", subresource: "status", namespace: ns, allowed: true},
			accessCheck{verb: "update", group: vbcGroup, resource: "voipbincredentials", subresource: "finalizers", namespace: ns, allowed: true},
			accessCheck{verb: "patch", group: vbcGroup, resource: "voipbincredentials", namespace: ns, allowed: true},
			accessCheck{verb: "update", group: vbcGroup, resource: "voipbincredentials", namespace: ns},
			accessCheck{verb: "create", group: "events.k8s.io", resource: "events", namespace: ns, allowed: true},
			// Rollout restarts (rolloutRestarts.enabled): get and patch the workloads, nothing more.
			accessCheck{verb: "get", group: "apps", resource: "deployments", namespace: ns, allowed: true},
			accessCheck{verb: "patch", group: "apps", resource: "deployments", namespace: ns, allowed: true},
			accessCheck{verb: "get", group: "apps", resource: "statefulsets", namespace: ns, allowed: true},
			accessCheck{verb: "patch", group: "apps", resource: "statefulsets", namespace: ns, allowed: true},
			accessCheck{verb: "get", group: "apps", resource: "daemonsets", namespace: ns, allowed: true},
			accessCheck{verb: "patch", group: "apps", resource: "daemonsets", namespace: ns, allowed: true},
			accessCheck{verb: "list", group: "apps", resource: "deployments", namespace: ns},
			accessCheck{verb: "watch", group: "apps", resource: "deployments", namespace: ns},
			accessCheck{verb: "update", group: "apps", resource: "deployments", namespace: ns},
			accessCheck{verb: "delete", group: "apps", resource: "deployments", namespace: ns},
			accessCheck{verb: "patch", group: "apps", resource: "deployments", subresource: "scale", namespace: ns},
			accessCheck{verb: "patch", group: "apps", resource: "replicasets", namespace: ns},
		)
	}
	return append(checks,
		// Nothing cluster-wide: no list or watch of Secrets or credentials of every namespace.
		accessCheck{verb: "get", resource: "secrets"},
		accessCheck{verb: "list", resource: "secrets"},
		accessCheck{verb: "watch", resource: "secrets"},
		accessCheck{verb: "list", group: vbcGroup, resource: "voipbincredentials"},
		accessCheck{verb: "watch", group: vbcGroup, resource: "voipbincredentials"},
		// Nor in a namespace it does not watch, its own and kube-system included.
		accessCheck{verb: "get", resource: "secrets", namespace: "other"},
		accessCheck{verb: "list", resource: "secrets", namespace: "other"},
		accessCheck{verb: "create", resource: "secrets", namespace: "other"},
		accessCheck{verb: "get", resource: "secrets", namespace: own},
		accessCheck{verb: "list", resource: "secrets", namespace: "kube-system"},
		accessCheck{verb: "get", group: vbcGroup, resource: "voipbincredentials", namespace: "other"},
		accessCheck{verb: "patch", group: vbcGroup, resource: "voipbincredentials", subresource: "status", namespace: "other"},
		accessCheck{verb: "create", group: "events.k8s.io", resource: "events", namespace: "other"},
		// Leader election in its own namespace only.
		accessCheck{verb: "get", group: "coordination.k8s.io", resource: "leases", namespace: own, allowed: true},
		accessCheck{verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: own, allowed: true},
		accessCheck{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: own, allowed: true},
		accessCheck{verb: "create", resource: "events", namespace: own, allowed: true},
		accessCheck{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system"},
		accessCheck{verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "apps"},
		// The metrics filter.
		accessCheck{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", allowed: true},
		accessCheck{verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews", allowed: true},
		// No workload outside the watched namespaces.
		accessCheck{verb: "get", group: "apps", resource: "deployments"},
		accessCheck{verb: "patch", group: "apps", resource: "deployments", namespace: "other"},
		accessCheck{verb: "patch", group: "apps", resource: "deployments", namespace: own},
		// A sample of what it must never do.
		accessCheck{verb: "list", resource: "pods"},
		accessCheck{verb: "get", resource: "configmaps", namespace: "apps"},
		accessCheck{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "apps"},
		accessCheck{verb: "update", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		accessCheck{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		accessCheck{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: "apps"},
	)
}
