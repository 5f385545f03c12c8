package v1alpha1_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

func target(kind v1alpha1.RolloutRestartKind, name string) v1alpha1.RolloutRestartTarget {
	return v1alpha1.RolloutRestartTarget{Kind: kind, Name: name}
}

var _ = Describe("rolloutRestartTargets validation", func() {
	// As in "CEL and schema rules": an invalid spec refused with the rule's
	// message, and a valid one next to it accepted.
	DescribeTable("rules",
		expectRule,
		Entry("kind is Deployment, StatefulSet or DaemonSet",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{target("CronJob", "api")}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{
					target(v1alpha1.RolloutRestartDeployment, "api"), target(v1alpha1.RolloutRestartStatefulSet, "db"),
					target(v1alpha1.RolloutRestartDaemonSet, "agent"),
				}
			},
			`supported values: "Deployment", "StatefulSet", "DaemonSet"`),
		Entry("name is a DNS subdomain",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{target(v1alpha1.RolloutRestartDeployment, "API")}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{target(v1alpha1.RolloutRestartDeployment, "api.v2")}
			},
			"spec.rolloutRestartTargets[0].name in body should match"),
		Entry("minInterval at least 10s",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				t := target(v1alpha1.RolloutRestartDeployment, "api")
				t.MinInterval = duration(9 * time.Second)
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{t}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				t := target(v1alpha1.RolloutRestartDeployment, "api")
				t.MinInterval = duration(10 * time.Second)
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{t}
			},
			"minInterval must be at least 10s"),
		Entry("a kind and name at most once",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{
					target(v1alpha1.RolloutRestartDeployment, "api"), target(v1alpha1.RolloutRestartDeployment, "api"),
				}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{
					target(v1alpha1.RolloutRestartDeployment, "api"), target(v1alpha1.RolloutRestartStatefulSet, "api"),
				}
			},
			"Duplicate value"),
		Entry("at most 16 targets",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				for i := range 17 {
					s.RolloutRestartTargets = append(s.RolloutRestartTargets,
						target(v1alpha1.RolloutRestartDeployment, "api-"+strings.Repeat("x", i+1)))
				}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				for i := range 16 {
					s.RolloutRestartTargets = append(s.RolloutRestartTargets,
						target(v1alpha1.RolloutRestartDeployment, "api-"+strings.Repeat("x", i+1)))
				}
			},
			"must have at most 16 items"),
	)

	It("defaults minInterval to 5m", func() {
		vbc := newCredential()
		vbc.Spec.RolloutRestartTargets = []v1alpha1.RolloutRestartTarget{target(v1alpha1.RolloutRestartDeployment, "api")}
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())
		got := &v1alpha1.VoipbinCredential{}
		Expect(k8sClient.Get(ctx, keyOf(vbc), got)).To(Succeed())
		Expect(got.Spec.RolloutRestartTargets).To(HaveLen(1))
		Expect(got.Spec.RolloutRestartTargets[0].MinInterval).To(Equal(duration(5 * time.Minute)))
	})
})

var _ = Describe("RestartedForAnnotation", func() {
	It("is the prefix and the name, and a valid key for the longest names", func() {
		Expect(v1alpha1.RestartedForAnnotation("billing")).To(Equal("restarted-for.credentials.voipbin.net/billing"))
		long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 100)
		key := v1alpha1.RestartedForAnnotation(long)
		name := strings.TrimPrefix(key, v1alpha1.AnnotationRestartedForPrefix)
		Expect(name).To(HaveLen(63))
		Expect(name).To(MatchRegexp(`^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$`))
		Expect(v1alpha1.RestartedForAnnotation(long+"c")).NotTo(Equal(key), "two long names that share 52 characters")
	})
})
