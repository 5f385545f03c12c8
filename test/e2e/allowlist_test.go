package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// docs/architecture.md, invariant 7 (the allow-list cannot be walked out of).
var _ = Describe("An apiURL that walks out of the allowed prefix", func() {
	It("row 8: sends nothing, whether CEL refuses it or the operator reports APIURLNotAllowed", func() {
		w := newWorld("row8", allowOnly("/tenant-a"))
		w.agent("login", "row8@example.com")
		walkers := map[string]string{
			"dot-segments":         w.url + "/tenant-a/../tenant-b",
			"encoded-dot-segments": w.url + "/tenant-a/%2e%2e/tenant-b",
		}
		var created []string
		for _, name := range sortedKeys(walkers) {
			err := k8s.Create(ctx, w.credential(name, withLogin("login"), withAPIURL(walkers[name])))
			if err != nil {
				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "refused at create, but not by validation: %v", err)
				observe("%s refused at create: %v", walkers[name], err)
				continue
			}
			created = append(created, name)
		}

		Consistently(w.requestLog).WithTimeout(5*time.Second).Should(BeEmpty(), "requests reached the stand-in")
		for _, name := range created {
			Expect(w.condition(name, v1alpha1.ConditionReady)).To(HavePrefix("False/"+v1alpha1.ReasonAPIURLNotAllowed+":"),
				"Ready of %s (%s)", name, walkers[name])
		}

		// Control: a credential at the allowed prefix itself does reach the stand-in
		// (which serves nothing there), so the window above could have seen requests.
		w.create("control", withLogin("login"), withAPIURL(w.url+"/tenant-a"))
		Eventually(w.requestLog).ShouldNot(BeEmpty())
		Expect(w.requestLog()).To(HaveEach(HavePrefix(fmt.Sprintf("POST /tenant-a%s ", loginPath))))
	})
})
