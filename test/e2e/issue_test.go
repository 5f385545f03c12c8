package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// Accesskeys the operator creates, rotates and deletes (spec.accessKey.issue),
// against a stand-in whose keys live 30 s per day of lifetime: a 24h key
// lives 30 s and is replaced about 20 s after it was created.

const keyDay = 30 * time.Second

func withIssue(revokeAfter time.Duration) credOption {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.AccessKey = &v1alpha1.AccessKeySpec{Issue: &v1alpha1.AccessKeyIssueSpec{
			Lifetime:    &metav1.Duration{Duration: 24 * time.Hour},
			RevokeAfter: &metav1.Duration{Duration: revokeAfter},
		}}
	}
}

// issueWorld is a world whose stand-in compresses key lifetimes, and whose
// created keys the leak scan looks for.
func issueWorld(name string) *world {
	GinkgoHelper()
	w := newWorld(name)
	w.api.SetAccessKeyDay(keyDay)
	scanner.AddIssuer("issued accesskey", func() []string {
		var keys []string
		for _, k := range w.api.AccessKeys() {
			keys = append(keys, k.Key)
		}
		return keys
	})
	return w
}

// keysOf returns the stand-in's keys created for the CR name (by the name the
// operator gives them), and how many of them are live (not deleted).
func (w *world) keysOf(name string) ([]voipbintest.AccessKey, int) {
	GinkgoHelper()
	prefix := "vbc-" + w.ns + "-" + name + "-"
	var mine []voipbintest.AccessKey
	live := 0
	for _, k := range w.api.AccessKeys() {
		if strings.HasPrefix(k.Name, prefix) {
			mine = append(mine, k)
			if k.Delete.IsZero() {
				live++
			}
		}
	}
	return mine, live
}

func (w *world) liveKeysOf(name string) func() int {
	return func() int { _, live := w.keysOf(name); return live }
}

// storedKey is the accesskey the managed Secret of name holds ("" none).
func (w *world) storedKey(name string) func() string {
	return func() string {
		if s := w.secret(managedSecret(name)); s != nil {
			return string(s.Data[v1alpha1.SecretKeyAccessKey])
		}
		return ""
	}
}

// keyByValue finds the stand-in's record of key.
func (w *world) keyByValue(key string) voipbintest.AccessKey {
	GinkgoHelper()
	for _, k := range w.api.AccessKeys() {
		if k.Key == key {
			return k
		}
	}
	Fail("the stand-in never created the stored key")
	return voipbintest.AccessKey{}
}

var _ = Describe("Issued accesskeys", func() {
	It("are published, rotated before expiry, the previous one deleted at revokeAt, and all deleted with the CR", func() {
		w := issueWorld("issue")
		w.loginCredential("cred", withIssue(4*time.Second))
		w.waitReady("cred")
		first := w.storedKey("cred")()
		k := w.keyByValue(first)
		Expect(k.Delete.IsZero()).To(BeTrue())
		Expect(k.Name).To(HavePrefix("vbc-"+w.ns+"-cred-"), "the key is named for its CR")
		Expect(k.Detail).To(ContainSubstring(w.ns + "/cred"))
		vbc := w.get("cred")
		Expect(vbc.Finalizers).To(ContainElement(v1alpha1.FinalizerRevokeAccessKeys))
		Expect(vbc.Status.AccessKey.ID).To(Equal(k.ID))
		Expect(vbc.Status.AccessKey.Prefix).To(Equal(k.Prefix()))
		Expect(vbc.Status.AccessKey.ExpiresAt.Time).To(BeTemporally("~", k.Expire, time.Second))
		Expect(w.condition("cred", v1alpha1.ConditionAccessKeyValid)).To(HavePrefix("True/" + v1alpha1.ReasonIssued))

		By("rotating before the key expires, never with more than two live keys")
		Eventually(func(g Gomega) {
			g.Expect(w.liveKeysOf("cred")()).To(BeNumerically("<=", 2), "live keys")
			g.Expect(w.storedKey("cred")()).NotTo(Equal(first))
		}).WithTimeout(40 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		rotatedAt := time.Now()
		Expect(rotatedAt).To(BeTemporally("<", k.Expire), "rotated only after the key expired")
		Expect(w.api.AccessKeys()).To(ContainElement(HaveField("Key", first)))
		second := w.storedKey("cred")()
		Expect(w.keyByValue(second).Delete.IsZero()).To(BeTrue())

		By("deleting the previous key at revokeAt")
		Eventually(func() bool { return !w.keyByValue(first).Delete.IsZero() }).
			WithTimeout(15*time.Second).Should(BeTrue(), "the previous key is deleted")
		deletedAt := w.keyByValue(first).Delete
		Expect(deletedAt.Sub(rotatedAt)).To(BeNumerically(">=", 3*time.Second), "deleted before revokeAt (4s)")
		Eventually(func() *v1alpha1.PreviousAccessKey { return w.get("cred").Status.AccessKey.Previous }).Should(BeNil())
		Eventually(w.eventCount("cred", v1alpha1.EventAccessKeyRevoked)).Should(BeNumerically(">=", 1))
		Expect(w.eventCount("cred", v1alpha1.EventAccessKeyIssued)()).To(BeNumerically(">=", 2))

		By("deleting every live key with the CR")
		Expect(k8s.Delete(ctx, w.get("cred"))).To(Succeed())
		Eventually(w.gone("cred")).WithTimeout(20 * time.Second).Should(BeTrue())
		Expect(w.liveKeysOf("cred")()).To(BeZero(), "live keys after the CR is gone")
	})

	It("leave no orphan when the manager is killed between creating a key and storing it", func() {
		w := issueWorld("issue-kill")
		_, allow := w.denySecretWrites(managedSecret("cred"), admissionregistrationv1.Create)
		w.loginCredential("cred", withIssue(time.Hour))
		Eventually(w.liveKeysOf("cred")).WithTimeout(20*time.Second).Should(Equal(1), "a key created, its write refused")
		Consistently(w.liveKeysOf("cred")).WithTimeout(3*time.Second).Should(Equal(1),
			"a write that keeps failing creates no second key")
		Expect(w.condition("cred", v1alpha1.ConditionAccessKeyValid)).To(HavePrefix("False/" + v1alpha1.ReasonSecretWriteFailed))

		_, err := w.mgr.StopWith(syscall.SIGKILL)
		Expect(err).NotTo(HaveOccurred())
		allow()
		startManager(w.ns+"-after-kill", harness.ManagerOptions{AllowedAPIURLs: []string{w.url},
			WatchNamespaces: []string{w.ns}, Args: []string{"--api-timeout=5s"}})
		w.waitReady("cred")
		Eventually(w.liveKeysOf("cred")).WithTimeout(20*time.Second).Should(Equal(1), "only the stored key is live")
		stored := w.keyByValue(w.storedKey("cred")())
		Expect(stored.Delete.IsZero()).To(BeTrue())
		mine, _ := w.keysOf("cred")
		Expect(mine).To(HaveLen(2), "the orphan of the kill and the stored key")
		Consistently(w.liveKeysOf("cred")).WithTimeout(3 * time.Second).Should(Equal(1))
	})

	It("report an account that refuses keys as AccessKeyCreateFailed, Stalled, without a retry loop", func() {
		w := issueWorld("issue-403")
		w.api.InjectFault(accessKeysPath, voipbintest.Fault{Method: http.MethodPost, Count: 1 << 20,
			Status: http.StatusForbidden, Reason: "PERMISSION_DENIED"})
		w.loginCredential("cred", withIssue(time.Hour))
		Eventually(w.conditionOf("cred", v1alpha1.ConditionAccessKeyValid)).WithTimeout(20 * time.Second).
			Should(HavePrefix("False/" + v1alpha1.ReasonAccessKeyCreateFailed))
		Expect(w.condition("cred", v1alpha1.ConditionReady)).To(HavePrefix("False/"))
		Eventually(func() string { return w.kstatus("cred") }).Should(HavePrefix("Failed"))
		creates := func() int { return w.api.Count(accessKeysPath, http.StatusForbidden) }
		Consistently(creates).WithTimeout(5*time.Second).Should(Equal(1), "creates after a 403")
		Expect(w.eventCount("cred", v1alpha1.EventAccessKeyCreateFailed)()).To(Equal(1))
		GinkgoWriter.Println(fmt.Sprintf("AccessKeyValid: %s", w.condition("cred", v1alpha1.ConditionAccessKeyValid)))
	})
})
