package v1alpha1_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

var nameSeq atomic.Int64

// newCredential returns a valid login-only VoipbinCredential with a unique name.
func newCredential() *v1alpha1.VoipbinCredential {
	return &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vbc-%d", nameSeq.Add(1)), Namespace: "default"},
		Spec: v1alpha1.VoipbinCredentialSpec{
			SecretName: "out",
			Login:      &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}},
		},
	}
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func withAccessKey(s *v1alpha1.VoipbinCredentialSpec, name string) {
	s.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: name}}
}

func withIssue(s *v1alpha1.VoipbinCredentialSpec) {
	s.AccessKey = &v1alpha1.AccessKeySpec{Issue: &v1alpha1.AccessKeyIssueSpec{}}
}

// expectRule is the body of a rule table: the API server refuses invalid with
// the rule's message and accepts valid, so that a rule refusing everything
// fails too.
func expectRule(invalid, valid func(*v1alpha1.VoipbinCredentialSpec), message string) {
	bad := newCredential()
	invalid(&bad.Spec)
	err := k8sClient.Create(ctx, bad)
	Expect(err).To(HaveOccurred(), "the API server accepted an invalid spec")
	Expect(err.Error()).To(ContainSubstring(message))

	good := newCredential()
	valid(&good.Spec)
	Expect(k8sClient.Create(ctx, good)).To(Succeed())
}

var _ = Describe("VoipbinCredential validation", func() {
	// Each entry is a rule: an invalid spec the API server must refuse with the rule's
	// message, and a valid spec next to it that it must accept, so that a rule that
	// refuses everything fails too.
	DescribeTable("CEL and schema rules",
		expectRule,
		Entry("at least one of login and accessKey",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.Login = nil },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.Login = nil; withAccessKey(s, "key") },
			"at least one of login and accessKey must be set"),
		Entry("secretName differs from login.secretRef.name",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "login" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "login-out" },
			"secretName must differ from login.secretRef.name"),
		Entry("secretName differs from accessKey.secretRef.name",
			func(s *v1alpha1.VoipbinCredentialSpec) { withAccessKey(s, "out") },
			func(s *v1alpha1.VoipbinCredentialSpec) { withAccessKey(s, "key") },
			"secretName must differ from accessKey.secretRef.name"),
		Entry("accessKey has exactly one of secretRef and issue: not both",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withAccessKey(s, "key")
				s.AccessKey.Issue = &v1alpha1.AccessKeyIssueSpec{}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) { withIssue(s) },
			"exactly one of accessKey.secretRef and accessKey.issue must be set"),
		Entry("accessKey has exactly one of secretRef and issue: not neither",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.AccessKey = &v1alpha1.AccessKeySpec{} },
			func(s *v1alpha1.VoipbinCredentialSpec) { withAccessKey(s, "key") },
			"exactly one of accessKey.secretRef and accessKey.issue must be set"),
		Entry("accessKey.issue needs login",
			func(s *v1alpha1.VoipbinCredentialSpec) { withIssue(s); s.Login = nil },
			func(s *v1alpha1.VoipbinCredentialSpec) { withIssue(s) },
			"accessKey.issue needs login"),
		Entry("accessKey.issue.lifetime is at least 24h",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.Lifetime = duration(23 * time.Hour)
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.Lifetime = duration(24 * time.Hour)
			},
			"accessKey.issue.lifetime must be at least 24h"),
		Entry("accessKey.issue.renewBefore is shorter than the lifetime",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.Lifetime, s.AccessKey.Issue.RenewBefore = duration(48*time.Hour), duration(48*time.Hour)
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.Lifetime, s.AccessKey.Issue.RenewBefore = duration(48*time.Hour), duration(47*time.Hour)
			},
			"accessKey.issue.renewBefore must be shorter than the lifetime"),
		Entry("accessKey.issue.renewBefore is shorter than the default lifetime",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.RenewBefore = duration(720 * time.Hour)
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.RenewBefore = duration(240 * time.Hour)
			},
			"accessKey.issue.renewBefore must be shorter than the lifetime"),
		Entry("accessKey.issue.revokeAfter is at most 720h",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.AccessKey.Issue.RevokeAfter = duration(721 * time.Hour)
			},
			func(s *v1alpha1.VoipbinCredentialSpec) { withIssue(s); s.AccessKey.Issue.RevokeAfter = duration(0) },
			"accessKey.issue.revokeAfter must be at most 720h"),
		Entry("secretName differs from tls.caSecretRef.name",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "out"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "ca"}}
			},
			"secretName must differ from tls.caSecretRef.name"),
		Entry("renewBefore at least 1m",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.RenewBefore = duration(59 * time.Second) },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.RenewBefore = duration(time.Minute) },
			"renewBefore must be at least 1m"),
		Entry("accessKeyCheckInterval at least 1m",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withAccessKey(s, "key")
				s.AccessKeyCheckInterval = duration(30 * time.Second)
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withAccessKey(s, "key")
				s.AccessKeyCheckInterval = duration(time.Minute)
			},
			"accessKeyCheckInterval must be at least 1m"),
		Entry("apiURL is http or https",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "ftp://api.example.com" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "http://api.example.com" },
			"apiURL must start with http:// or https://"),
		Entry("apiURL has no user info",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://user:pass@api.example.com" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://api.example.com/base/path" },
			"apiURL must not contain user info"),
		Entry("apiURL has no query",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://api.example.com/?token=x" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://api.example.com:8443/" },
			"apiURL must not contain a query"),
		Entry("apiURL has no fragment",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://api.example.com/#top" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.APIURL = "https://api.example.com" },
			"apiURL must not contain a fragment"),
		Entry("tls only with https",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.APIURL = "http://api.example.com"
				s.TLS = &v1alpha1.TLSSpec{InsecureSkipVerify: true}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.APIURL = "https://api.example.com"
				s.TLS = &v1alpha1.TLSSpec{InsecureSkipVerify: true}
			},
			"tls is only allowed with an https:// apiURL"),
		Entry("caSecretRef and insecureSkipVerify exclude each other",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "ca"}, InsecureSkipVerify: true}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "ca"}}
			},
			"caSecretRef and insecureSkipVerify cannot both be set"),
		Entry("secretTemplate cannot set the managed-by label",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{"app.kubernetes.io/managed-by": "me"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{"app.kubernetes.io/part-of": "me"}}
			},
			"secretTemplate.labels cannot set the operator's own labels"),
		Entry("secretTemplate cannot set the credential label",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{v1alpha1.LabelCredential: "other"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{"team": "billing"}}
			},
			"secretTemplate.labels cannot set the operator's own labels"),
		Entry("secretTemplate cannot set the data-hash annotation",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Annotations: map[string]string{v1alpha1.AnnotationDataHash: "x"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Annotations: map[string]string{"example.com/owner": "x"}}
			},
			"secretTemplate.annotations cannot set the operator's own annotations"),
		Entry("secretTemplate.data keys are Secret data keys",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"bad key/": "{{ .Token }}"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"VOIPBIN_TOKEN.env-1": "{{ .Token }}"}}
			},
			"secretTemplate.data keys must be valid Secret data keys"),
		Entry("secretTemplate.data cannot set a built-in key",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{v1alpha1.SecretKeyToken: "Bearer {{ .Token }}"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"auth-header": "Bearer {{ .Token }}"}}
			},
			"secretTemplate.data cannot set the built-in keys"),
		Entry("secretTemplate.data templates are bounded",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"big": strings.Repeat("x", 4097)}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"big": strings.Repeat("x", 4096)}}
			},
			"secretTemplate.data templates are at most 4096 characters"),
		Entry("secretTemplate.omitDefaultKeys needs data",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{OmitDefaultKeys: true, Labels: map[string]string{"team": "a"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				s.SecretTemplate = &v1alpha1.SecretTemplate{OmitDefaultKeys: true, Data: map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"}}
			},
			"secretTemplate.omitDefaultKeys needs secretTemplate.data"),
		Entry("secretTemplate.omitDefaultKeys is not for issued accesskeys",
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withIssue(s)
				s.SecretTemplate = &v1alpha1.SecretTemplate{OmitDefaultKeys: true, Data: map[string]string{"KEY": "{{ .AccessKey }}"}}
			},
			func(s *v1alpha1.VoipbinCredentialSpec) {
				withAccessKey(s, "key")
				s.SecretTemplate = &v1alpha1.SecretTemplate{OmitDefaultKeys: true, Data: map[string]string{"KEY": "{{ .AccessKey }}"}}
			},
			"secretTemplate.omitDefaultKeys cannot be used with accessKey.issue"),
		Entry("deletionPolicy is Delete or Retain",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.DeletionPolicy = "Keep" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.DeletionPolicy = v1alpha1.DeletionPolicyRetain },
			`Unsupported value: "Keep"`),
		Entry("secretName is a DNS subdomain",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "Bad_Name" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "good.name-1" },
			"spec.secretName in body should match"),
		Entry("secretName is required",
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "" },
			func(s *v1alpha1.VoipbinCredentialSpec) { s.SecretName = "x" },
			"spec.secretName"),
	)

	It("rejects a renewBefore that is not a duration", func() {
		// metav1.Duration cannot carry an unparseable value, so this one goes in raw.
		bad := newCredential()
		raw := map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(), "kind": "VoipbinCredential",
			"metadata": map[string]any{"name": bad.Name, "namespace": bad.Namespace},
			"spec": map[string]any{
				"secretName": "out", "renewBefore": "two days",
				"login": map[string]any{"secretRef": map[string]any{"name": "login"}},
			},
		}
		err := createRaw(raw)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.renewBefore in body should match"))
	})

	It("fills in the defaults", func() {
		vbc := newCredential()
		withAccessKey(&vbc.Spec, "key")
		vbc.Spec.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "ca"}}
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())

		got := &v1alpha1.VoipbinCredential{}
		Expect(k8sClient.Get(ctx, keyOf(vbc), got)).To(Succeed())
		Expect(got.Spec.APIURL).To(Equal(v1alpha1.DefaultAPIURL))
		Expect(got.Spec.Login.SecretRef.UsernameKey).To(Equal("username"))
		Expect(got.Spec.Login.SecretRef.PasswordKey).To(Equal("password"))
		Expect(got.Spec.AccessKey.SecretRef.Key).To(Equal("accesskey"))
		Expect(got.Spec.TLS.CASecretRef.Key).To(Equal("ca.crt"))
		Expect(got.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyDelete))
		Expect(got.Spec.AccessKeyCheckInterval).To(Equal(duration(time.Hour)))
		Expect(got.Spec.RenewBefore).To(BeNil(), "renewBefore defaults at run time to a third of the lifetime")
		Expect(got.Spec.Suspend).To(BeFalse())
	})

	It("reads as in progress to kstatus before the operator's first reconcile", func() {
		vbc := newCredential()
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("VoipbinCredential"))
		Expect(k8sClient.Get(ctx, keyOf(vbc), u)).To(Succeed())
		gen, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue(), "status.observedGeneration is defaulted")
		Expect(gen).To(BeZero())
		res, err := kstatus.Compute(u)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(kstatus.InProgressStatus))
	})

	It("refuses to change secretName and accepts other changes", func() {
		vbc := newCredential()
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())

		changed := vbc.DeepCopy()
		changed.Spec.SecretName = "another"
		err := k8sClient.Update(ctx, changed)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("secretName is immutable"))

		Expect(k8sClient.Get(ctx, keyOf(vbc), vbc)).To(Succeed())
		vbc.Spec.RenewBefore = duration(2 * time.Hour)
		Expect(k8sClient.Update(ctx, vbc)).To(Succeed())
	})

	It("defaults secretTemplate.type to Opaque and keeps it immutable", func() {
		vbc := newCredential()
		vbc.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{"team": "a"}}
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())
		Expect(vbc.Spec.SecretTemplate.Type).To(Equal("Opaque"))

		vbc.Spec.SecretTemplate.Type = "example.com/voipbin"
		err := k8sClient.Update(ctx, vbc)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("secretTemplate.type is immutable"))

		Expect(k8sClient.Get(ctx, keyOf(vbc), vbc)).To(Succeed())
		vbc.Spec.SecretTemplate.Data = map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"}
		Expect(k8sClient.Update(ctx, vbc)).To(Succeed())
	})

	It("refuses a secretTemplate.type added later or removed, unless Opaque", func() {
		vbc := newCredential()
		Expect(k8sClient.Create(ctx, vbc)).To(Succeed())
		vbc.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Type: "example.com/voipbin"}
		err := k8sClient.Update(ctx, vbc)
		Expect(err).To(HaveOccurred(), "a type added to a CR whose Secret is Opaque")
		Expect(err.Error()).To(ContainSubstring("secretTemplate.type is immutable"))

		Expect(k8sClient.Get(ctx, keyOf(vbc), vbc)).To(Succeed())
		vbc.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Labels: map[string]string{"team": "a"}}
		Expect(k8sClient.Update(ctx, vbc)).To(Succeed(), "a secretTemplate added with the default type")

		typed := newCredential()
		typed.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Type: "example.com/voipbin"}
		Expect(k8sClient.Create(ctx, typed)).To(Succeed())
		typed.Spec.SecretTemplate = nil
		err = k8sClient.Update(ctx, typed)
		Expect(err).To(HaveOccurred(), "a non-Opaque type removed")
		Expect(err.Error()).To(ContainSubstring("secretTemplate.type is immutable"))
	})
})
