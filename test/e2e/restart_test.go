package e2e

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Issue 16: the workloads that read the token once, at start-up. envtest runs no
// controller-manager, so a Deployment never gets pods: a restart is a change of
// its pod template's kubectl.kubernetes.io/restartedAt, counted by a poller
// (restarts are at least 10 s apart, the poller looks every 100 ms; the
// generation cannot count them: a Deployment's changes with its annotations).

func withRestartTargets(targets ...v1alpha1.RolloutRestartTarget) credOption {
	return func(v *v1alpha1.VoipbinCredential) { v.Spec.RolloutRestartTargets = targets }
}

func restartTarget(name string, minInterval time.Duration) v1alpha1.RolloutRestartTarget {
	t := v1alpha1.RolloutRestartTarget{Kind: v1alpha1.RolloutRestartDeployment, Name: name}
	if minInterval > 0 {
		t.MinInterval = &metav1.Duration{Duration: minInterval}
	}
	return t
}

// envDeployment creates a Deployment whose container reads the token of the
// Secret secretName from an environment variable: once, at start-up.
func (w *world) envDeployment(name, secretName string) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	Expect(k8s.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.com/app:1",
					Env: []corev1.EnvVar{{Name: "VOIPBIN_TOKEN", ValueFrom: &corev1.EnvVarSource{
						SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: secretName},
							Key:                  v1alpha1.SecretKeyToken, Optional: ptr.To(false),
						},
					}}},
				}}},
			},
		},
	})).To(Succeed())
}

func (w *world) deployment(name string) *appsv1.Deployment {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(k8s.Get(ctx, w.key(name), d)).To(Succeed())
	return d
}

// restartCounter counts the changes of a Deployment's restartedAt, and checks
// that nothing else of its pod template changes.
type restartCounter struct {
	mu    sync.Mutex
	count int64
	last  string
	err   error
}

// countRestarts starts counting the restarts of a Deployment until the spec ends,
// and returns the count so far.
func (w *world) countRestarts(name string) func() int64 {
	GinkgoHelper()
	c := &restartCounter{}
	first := w.deployment(name).Spec.Template
	c.last = first.Annotations[v1alpha1.AnnotationRestartedAt]
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, w.key(name), d); err != nil {
				continue
			}
			at := d.Spec.Template.Annotations[v1alpha1.AnnotationRestartedAt]
			c.mu.Lock()
			if at != c.last {
				c.count++
				c.last = at
			}
			rest := d.Spec.Template.DeepCopy()
			delete(rest.Annotations, v1alpha1.AnnotationRestartedAt)
			if len(rest.Annotations) == 0 {
				rest.Annotations = nil
			}
			if !equality.Semantic.DeepEqual(rest, first.DeepCopy()) && c.err == nil {
				c.err = fmt.Errorf("the pod template of %s changed beyond restartedAt", name)
			}
			c.mu.Unlock()
		}
	}()
	DeferCleanup(func() { close(done) })
	return func() int64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		Expect(c.err).NotTo(HaveOccurred())
		return c.count
	}
}

// restartedAt is a Deployment's kubectl.kubernetes.io/restartedAt.
func (w *world) restartedAt(name string) time.Time {
	GinkgoHelper()
	at, err := time.Parse(time.RFC3339, w.deployment(name).Spec.Template.Annotations[v1alpha1.AnnotationRestartedAt])
	Expect(err).NotTo(HaveOccurred())
	return at
}

// restartedFor polls what a Deployment records as restarted for, for credential cred.
func (w *world) restartedFor(name, cred string) func() string {
	return func() string { return w.deployment(name).Annotations[v1alpha1.RestartedForAnnotation(cred)] }
}

// credentialHash is the data-hash of a credential's managed Secret.
func (w *world) credentialHash(cred string) string {
	GinkgoHelper()
	return w.secret(managedSecret(cred)).Annotations[v1alpha1.AnnotationDataHash]
}

// restartManager stops the manager and starts another one with its options.
func (w *world) restartManager(name string) {
	GinkgoHelper()
	_, err := w.mgr.Stop()
	Expect(err).NotTo(HaveOccurred())
	w.mgr = startManager(name, w.mgrOptions)
}

// expectNoSecretIn fails if a Deployment holds any form of a known secret.
func expectNoSecretIn(d *appsv1.Deployment) {
	GinkgoHelper()
	text, err := yaml.Marshal(d)
	Expect(err).NotTo(HaveOccurred())
	Expect(scanner.Scan("Deployment "+d.Name, string(text))).To(BeEmpty())
}

var _ = Describe("Rollout restarts", func() {
	It("restart a Deployment that reads the token from an env var once per renewal, and not after an operator restart or when nothing changed", func() {
		w := newWorld("restart", managerArgs("--enable-rollout-restarts"))
		// A renewal at about 20 s, longer than minInterval: every renewal restarts.
		w.api.SetTokenLifetime(30 * time.Second)
		w.envDeployment("api", managedSecret("cred"))
		restarts := w.countRestarts("api")
		w.loginCredential("cred", withRestartTargets(restartTarget("api", 10*time.Second)))
		w.waitReady("cred")

		By("the first sighting records the credential, and restarts nothing")
		Eventually(w.restartedFor("api", "cred")).Should(Equal(w.credentialHash("cred")))
		Eventually(w.conditionOf("cred", v1alpha1.ConditionRolloutRestartTargetsReady)).
			Should(HavePrefix("True/" + v1alpha1.ReasonUpToDate + ":"))
		Expect(restarts()).To(BeZero(), "restarted on its first sighting")

		By("each renewal restarts it once")
		for i := int64(1); i <= 2; i++ {
			old := w.storedToken("cred")
			Eventually(w.storedTokenOf("cred")).WithTimeout(40 * time.Second).ShouldNot(Equal(old))
			Eventually(restarts).Should(Equal(i), "restarts after renewal %d", i)
			Eventually(w.restartedFor("api", "cred")).Should(Equal(w.credentialHash("cred")))
			observe("renewal %d: restarted %s", i, w.restartedAt("api").Format(time.RFC3339))
		}
		// The next token lives an hour: after it, nothing changes for a while.
		w.api.SetTokenLifetime(time.Hour)
		old := w.storedToken("cred")
		Eventually(w.storedTokenOf("cred")).WithTimeout(40 * time.Second).ShouldNot(Equal(old))
		Eventually(restarts).Should(Equal(int64(3)), "restarts after renewal 3")
		Eventually(w.restartedFor("api", "cred")).Should(Equal(w.credentialHash("cred")))
		Expect(w.eventCount("cred", v1alpha1.EventRolloutRestarted)()).To(Equal(3))

		By("nothing changed: a reconcile of the CR restarts nothing")
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) {
			metav1.SetMetaDataAnnotation(&v.ObjectMeta, "example.com/touched", "yes")
		})
		Consistently(restarts).WithTimeout(5 * time.Second).Should(Equal(int64(3)))

		By("an operator restart restarts nothing")
		tokensBefore := len(w.api.IssuedTokens())
		w.restartManager(w.ns + "-restarted")
		Consistently(restarts).WithTimeout(10 * time.Second).Should(Equal(int64(3)))
		Expect(w.api.IssuedTokens()).To(HaveLen(tokensBefore), "precondition: no renewal in the window")
		Expect(w.condition("cred", v1alpha1.ConditionRolloutRestartTargetsReady)).To(HavePrefix("True/" + v1alpha1.ReasonUpToDate + ":"))
		Expect(w.eventCount("cred", v1alpha1.EventRolloutRestarted)()).To(Equal(3))
		expectNoSecretIn(w.deployment("api"))
	})

	It("give three renewals within minInterval one restart, for the last, and leave the credential Ready when a target is missing", func() {
		w := newWorld("burst", managerArgs("--enable-rollout-restarts"))
		const minInterval = 30 * time.Second
		w.envDeployment("api", managedSecret("cred"))
		restarts := w.countRestarts("api")
		w.loginCredential("cred", withRestartTargets(restartTarget("api", minInterval), restartTarget("missing", 0)))
		w.waitReady("cred")

		By("a missing target: a Warning event and a condition message; Ready stays True")
		Eventually(w.conditionOf("cred", v1alpha1.ConditionRolloutRestartTargetsReady)).Should(And(
			HavePrefix("False/"+v1alpha1.ReasonRolloutRestartFailed+":"), ContainSubstring(`Deployment "missing": not found`)))
		Eventually(w.eventCount("cred", v1alpha1.EventRolloutRestartFailed)).Should(Equal(1))
		Expect(w.condition("cred", v1alpha1.ConditionReady)).To(HavePrefix("True/Ready:"))
		Expect(w.kstatus("cred")).To(HavePrefix("Current"))
		Eventually(w.restartedFor("api", "cred")).Should(Equal(w.credentialHash("cred")), "the other target's baseline")
		Expect(restarts()).To(BeZero())

		// A refresh request is a renewal on demand: a new token. Stand-in tokens
		// of the same second are alike, so one second apart.
		renew := func() {
			GinkgoHelper()
			time.Sleep(1100 * time.Millisecond)
			old := w.storedToken("cred")
			w.requestRefresh("cred")
			Eventually(w.storedTokenOf("cred")).ShouldNot(Equal(old))
		}
		By("a renewal restarts it at once")
		renew()
		Eventually(restarts).Should(Equal(int64(1)))
		first := w.restartedAt("api")

		By("three renewals within minInterval of that restart give one more restart, once minInterval has passed")
		renew()
		renew()
		renew()
		last := w.credentialHash("cred")
		Expect(time.Since(first)).To(BeNumerically("<", minInterval-5*time.Second), "precondition: the renewals came within minInterval")
		Expect(restarts()).To(Equal(int64(1)))
		st := w.get("cred").Status.RolloutRestarts
		Expect(st).To(HaveLen(2))
		Expect(st[0].NextRestartTime).NotTo(BeNil(), "status.rolloutRestarts[api].nextRestartTime")
		Expect(st[0].NextRestartTime.Time).To(BeTemporally("==", first.Add(minInterval)))
		Consistently(restarts).WithTimeout(time.Until(first.Add(minInterval - 2*time.Second))).Should(Equal(int64(1)))
		Eventually(restarts).WithTimeout(10 * time.Second).Should(Equal(int64(2)))
		Expect(w.restartedFor("api", "cred")()).To(Equal(last), "restarted for the last credential")
		Expect(w.restartedAt("api").Sub(first)).To(BeNumerically(">=", minInterval))
		Consistently(restarts).WithTimeout(5 * time.Second).Should(Equal(int64(2)))
		Expect(w.eventCount("cred", v1alpha1.EventRolloutRestarted)()).To(Equal(2))
		Expect(w.eventCount("cred", v1alpha1.EventRolloutRestartFailed)()).To(Equal(1), "the missing target reported once")
		Expect(w.condition("cred", v1alpha1.ConditionReady)).To(HavePrefix("True/Ready:"))
		expectNoSecretIn(w.deployment("api"))
	})

	It("are off without --enable-rollout-restarts: the condition says so, and nothing is patched", func() {
		w := newWorld("norestart")
		w.envDeployment("api", managedSecret("cred"))
		w.loginCredential("cred", withRestartTargets(restartTarget("api", 10*time.Second)))
		w.waitReady("cred")
		Eventually(w.conditionOf("cred", v1alpha1.ConditionRolloutRestartTargetsReady)).Should(And(
			HavePrefix("False/"+v1alpha1.ReasonRolloutRestartsDisabled+":"), ContainSubstring("--enable-rollout-restarts")))
		Eventually(w.eventCount("cred", v1alpha1.EventRolloutRestartFailed)).Should(Equal(1))

		old := w.storedToken("cred")
		time.Sleep(1100 * time.Millisecond)
		w.requestRefresh("cred")
		Eventually(w.storedTokenOf("cred")).ShouldNot(Equal(old))
		Consistently(func() *appsv1.Deployment { return w.deployment("api") }).WithTimeout(3 * time.Second).Should(And(
			HaveField("Generation", int64(1)), HaveField("ObjectMeta.Annotations", BeEmpty())))
		Expect(w.eventCount("cred", v1alpha1.EventRolloutRestartFailed)()).To(Equal(1))
	})
})
