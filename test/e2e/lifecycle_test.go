package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// holdFinalizer is another controller's finalizer, keeping a deleted
// VoipbinCredential terminating as long as the test wants.
const holdFinalizer = "example.com/hold"

// docs/architecture.md, invariant 5 (hands off a terminating CR).
var _ = Describe("A terminating VoipbinCredential", func() {
	It("row 7: deleted with --cascade=orphan, gets no login and no Secret write; its orphaned Secret stays as it is", func() {
		w := newWorld("row7")
		w.loginCredential("cred", withFinalizer(holdFinalizer))
		w.waitReady("cred")
		Expect(metav1.GetControllerOf(w.secret(managedSecret("cred")))).NotTo(BeNil(),
			"precondition: deletionPolicy Delete sets a controller owner reference")
		before := w.logins()

		// What kubectl delete --cascade=orphan does: the API server adds the orphan
		// finalizer, and the garbage collector drops the owner references of the
		// dependents before removing it. envtest runs no garbage collector: do its part.
		Expect(k8s.Delete(ctx, w.get("cred"), client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		Expect(w.get("cred").DeletionTimestamp).NotTo(BeNil())
		orphaned := w.secret(managedSecret("cred"))
		orphaned.OwnerReferences = nil
		Expect(k8s.Update(ctx, orphaned)).To(Succeed())

		Consistently(func(g Gomega) {
			s := w.secret(managedSecret("cred"))
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.OwnerReferences).To(BeEmpty(), "an owner reference was put back")
			g.Expect(s.ResourceVersion).To(Equal(orphaned.ResourceVersion), "the Secret was written")
			g.Expect(w.logins()).To(Equal(before), "logins since the deletion")
		}).WithTimeout(10 * time.Second).Should(Succeed())

		Expect(k8s.Delete(ctx, orphaned)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(w.secret(managedSecret("cred"))).To(BeNil(), "the Secret was created again")
			g.Expect(w.logins()).To(Equal(before), "logins since the deletion")
		}).WithTimeout(5 * time.Second).Should(Succeed())

		w.patch("cred", func(v *v1alpha1.VoipbinCredential) { v.Finalizers = nil })
		Eventually(w.gone("cred")).Should(BeTrue())
	})
})
