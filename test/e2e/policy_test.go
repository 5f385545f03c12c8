package e2e

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/test/harness"
)

// denySecretWrites makes the API server refuse ops (CREATE, UPDATE) on the Secret
// name of w's namespace, for every user the operator included: a
// ValidatingAdmissionPolicy and its binding, as a cluster's policy engine or a
// quota would refuse a write. It waits until the API server enforces the policy,
// and returns the denial message and a function that removes the policy and
// waits until it is no longer enforced.
func (w *world) denySecretWrites(name string, ops ...admissionregistrationv1.OperationType) (string, func()) {
	GinkgoHelper()
	policyName := "deny-" + w.ns + "-" + name
	message := fmt.Sprintf("e2e policy %s: writes of Secret %s are denied", policyName, name)
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: ops,
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"},
						},
					},
				}},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "the-managed-secret",
				Expression: fmt.Sprintf("request.namespace == %q && object.metadata.name == %q", w.ns, name),
			}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: message}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policyName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	Expect(k8s.Create(ctx, policy)).To(Succeed())
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	// The API server loads policies through an informer: wait until a dry run of
	// each denied operation is refused with the message.
	for _, op := range ops {
		Eventually(w.dryRunSecretWrite(name, op)).Should(ContainSubstring(message), "the policy is not enforced for %s", op)
	}
	remove := func() {
		GinkgoHelper()
		Expect(k8s.Delete(ctx, binding)).To(Succeed())
		Expect(k8s.Delete(ctx, policy)).To(Succeed())
		for _, op := range ops {
			Eventually(w.dryRunSecretWrite(name, op)).ShouldNot(ContainSubstring(message), "the policy is still enforced for %s", op)
		}
	}
	return message, remove
}

// dryRunSecretWrite returns a probe that tries op on the Secret name without
// persisting anything, and returns the API server's error text ("" for none). A
// dry-run create is admitted (or refused) before the API server looks for an
// existing Secret of that name; an update of a Secret that does not exist is
// NotFound, never refused by the policy.
func (w *world) dryRunSecretWrite(name string, op admissionregistrationv1.OperationType) func() string {
	return func() string {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}}
		var err error
		if op == admissionregistrationv1.Create {
			err = k8s.Create(ctx, s, client.DryRunAll)
		} else if err = k8s.Get(ctx, w.key(name), s); err == nil {
			metav1.SetMetaDataLabel(&s.ObjectMeta, "e2e-dry-run", "probe")
			err = k8s.Update(ctx, s, client.DryRunAll)
		}
		if err == nil {
			return ""
		}
		return err.Error()
	}
}

// The tooling of rows 2 and 3, checked on its own (no manager): the policy refuses
// the writes the operator makes (server-side apply creating and changing the
// Secret), only for that Secret, and stops refusing once removed; so a failure of
// those rows is the operator's, not the policy's.
var _ = Describe("The Secret-write policy of rows 2 and 3 (control)", func() {
	It("refuses server-side apply of the one Secret while present, and nothing once removed", func() {
		w := &world{ns: newNamespace("policy")}
		apply := func(name string) error {
			ac := corev1ac.Secret(name, w.ns).WithData(map[string][]byte{"k": []byte(harness.RandomString(8))})
			return k8s.Apply(ctx, ac, client.FieldOwner("e2e-control"), client.ForceOwnership)
		}
		Expect(apply("guarded")).To(Succeed())
		denial, allow := w.denySecretWrites("guarded", admissionregistrationv1.Update, admissionregistrationv1.Create)
		Expect(apply("guarded")).To(MatchError(ContainSubstring(denial)), "an apply changing the Secret")
		Expect(k8s.Delete(ctx, w.secret("guarded"))).To(Succeed())
		Expect(apply("guarded")).To(MatchError(ContainSubstring(denial)), "an apply creating the Secret")
		Expect(apply("other")).To(Succeed(), "another Secret of the namespace")
		allow()
		Expect(apply("guarded")).To(Succeed())
	})
})
