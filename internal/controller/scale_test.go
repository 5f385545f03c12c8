package controller_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
)

// TestSharedLoginsAndQuietMinute is the short version of the benchmark's
// scenarios 2 and 3: 50 credentials sharing 5 logins make exactly 5 logins, with
// VoIPBIN's own rate limits on; once all are Ready, a quiet period brings no API
// call, no Secret write and no status write.
func TestSharedLoginsAndQuietMinute(t *testing.T) {
	t.Parallel()
	const crs, logins = 50, 5
	e := newEnv(t, 7*24*time.Hour, func(o *controller.Options) { o.MaxConcurrentReconciles = 8 })
	e.api.EnableRateLimits(true)
	for i := range logins {
		user := fmt.Sprintf("shared-%d@example.com", i)
		e.api.AddAgent(user, "shared-password", "")
		e.loginSecret(fmt.Sprintf("login-%d", i), user, "shared-password")
	}
	var wg sync.WaitGroup
	for i := range crs {
		wg.Go(func() {
			e.credential(fmt.Sprintf("app-%02d", i), withLogin(fmt.Sprintf("login-%d", i%logins)))
		})
	}
	wg.Wait()
	e.eventually(60*time.Second, "all Ready", func() (bool, string) {
		list := &v1alpha1.VoipbinCredentialList{}
		must(t, e.c.List(e.ctx, list, client.InNamespace(e.ns)))
		ready := 0
		for _, v := range list.Items {
			for _, c := range v.Status.Conditions {
				if c.Type == v1alpha1.ConditionReady && c.Status == "True" {
					ready++
				}
			}
		}
		return ready == crs, fmt.Sprintf("%d of %d Ready", ready, crs)
	})
	if n := len(e.api.RequestsTo("/auth/login")); n != logins {
		t.Errorf("%d logins for %d distinct login inputs", n, logins)
	}
	if n := e.api.CountStatus(429); n != 0 {
		t.Errorf("%d answers 429", n)
	}

	// Let the last watch events settle, then take a snapshot of every version.
	time.Sleep(3 * time.Second)
	versions := func() map[string]string {
		m := map[string]string{}
		secrets := &corev1.SecretList{}
		must(t, e.c.List(e.ctx, secrets, client.InNamespace(e.ns)))
		for _, s := range secrets.Items {
			m["secret/"+s.Name] = s.ResourceVersion
		}
		vbcs := &v1alpha1.VoipbinCredentialList{}
		must(t, e.c.List(e.ctx, vbcs, client.InNamespace(e.ns)))
		for _, v := range vbcs.Items {
			m["vbc/"+v.Name] = v.ResourceVersion
		}
		return m
	}
	before, calls := versions(), len(e.api.Requests())
	time.Sleep(15 * time.Second)
	after := versions()
	if n := len(e.api.Requests()) - calls; n != 0 {
		t.Errorf("%d API calls in the quiet period", n)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s was written in the quiet period", k)
		}
	}
	if len(before) != crs*2+logins {
		t.Errorf("%d objects, want %d credentials, %d managed and %d login Secrets", len(before), crs, crs, logins)
	}
}
