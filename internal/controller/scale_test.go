package controller_test

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
)

var _ = Describe("scale", func() {
	// TestSharedLoginsAndQuietMinute is the short version of the benchmark's
	// scenarios 2 and 3: 50 credentials sharing 5 logins make exactly 5 logins, with
	// VoIPBIN's own rate limits on; once all are Ready, a quiet period brings no API
	// call, no Secret write and no status write.
	It("TestSharedLoginsAndQuietMinute", func() {
		const crs, logins = 50, 5
		e := newEnv(7*24*time.Hour, func(o *controller.Options) { o.MaxConcurrentReconciles = 8 })
		e.api.EnableRateLimits(true)
		for i := range logins {
			user := fmt.Sprintf("shared-%d@example.com", i)
			e.api.AddAgent(user, "shared-password", "")
			e.loginSecret(fmt.Sprintf("login-%d", i), user, "shared-password")
		}
		var wg sync.WaitGroup
		for i := range crs {
			wg.Go(func() {
				defer GinkgoRecover()
				e.credential(fmt.Sprintf("app-%02d", i), withLogin(fmt.Sprintf("login-%d", i%logins)))
			})
		}
		wg.Wait()
		Eventually(func() int {
			list := &v1alpha1.VoipbinCredentialList{}
			Expect(e.c.List(e.ctx, list, client.InNamespace(e.ns))).To(Succeed())
			ready := 0
			for _, v := range list.Items {
				for _, c := range v.Status.Conditions {
					if c.Type == v1alpha1.ConditionReady && c.Status == "True" {
						ready++
					}
				}
			}
			return ready
		}).WithTimeout(60*time.Second).Should(Equal(crs), "all Ready")
		Expect(e.api.RequestsTo("/auth/login")).To(HaveLen(logins), "logins for %d distinct login inputs", logins)
		Expect(e.api.CountStatus(429)).To(BeZero(), "answers 429")

		// Let the last watch events settle, then take a snapshot of every version.
		time.Sleep(3 * time.Second)
		versions := func() map[string]string {
			m := map[string]string{}
			secrets := &corev1.SecretList{}
			Expect(e.c.List(e.ctx, secrets, client.InNamespace(e.ns))).To(Succeed())
			for _, s := range secrets.Items {
				m["secret/"+s.Name] = s.ResourceVersion
			}
			vbcs := &v1alpha1.VoipbinCredentialList{}
			Expect(e.c.List(e.ctx, vbcs, client.InNamespace(e.ns))).To(Succeed())
			for _, v := range vbcs.Items {
				m["vbc/"+v.Name] = v.ResourceVersion
			}
			return m
		}
		before, calls := versions(), len(e.api.Requests())
		Consistently(func() int { return len(e.api.Requests()) }).WithTimeout(15*time.Second).
			Should(Equal(calls), "API calls in the quiet period")
		after := versions()
		for k, v := range before {
			Expect(after).To(HaveKeyWithValue(k, v), "%s was written in the quiet period", k)
		}
		Expect(before).To(HaveLen(crs*2+logins), "objects, want %d credentials, %d managed and %d login Secrets", crs, crs, logins)
	})
})
