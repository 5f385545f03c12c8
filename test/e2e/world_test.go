package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// The stand-in's paths the operator calls.
const (
	loginPath      = "/auth/login"
	accessKeysPath = "/v1.0/accesskeys"
)

var nsSeq atomic.Int64

// world is one spec's: a namespace, a stand-in, and a manager process allowed to
// call the stand-in and watching only that namespace.
type world struct {
	ns string
	// api is the stand-in and url where it is served.
	api *voipbintest.Server
	url string
	mgr *harness.Manager
	// mgrOptions are the manager's options, for a restart.
	mgrOptions harness.ManagerOptions
}

// worldConfig is what a worldOption may change.
type worldConfig struct {
	// allowedPath is appended to the stand-in's URL in --allowed-api-urls.
	allowedPath string
	// args are more arguments of the manager.
	args []string
}

type worldOption func(*worldConfig)

// allowOnly lets the manager call only below path of the stand-in.
func allowOnly(path string) worldOption { return func(c *worldConfig) { c.allowedPath = path } }

// managerArgs adds arguments to the manager's.
func managerArgs(args ...string) worldOption {
	return func(c *worldConfig) { c.args = append(c.args, args...) }
}

// newWorld creates the namespace e2e-<name>-<n>, serves a new stand-in and starts a
// manager; everything stops when the spec ends. The namespace stays, with its
// events and statuses, for the final leak scan.
func newWorld(name string, opts ...worldOption) *world {
	GinkgoHelper()
	var cfg worldConfig
	for _, o := range opts {
		o(&cfg)
	}
	w := &world{ns: newNamespace(name), api: voipbintest.New()}
	standIn, err := harness.ServeStandIn(w.api.Handler())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(standIn.Close)
	w.url = standIn.URL
	scanner.AddIssuer("token", w.api.IssuedTokens)

	w.mgrOptions = harness.ManagerOptions{
		AllowedAPIURLs:  []string{w.url + cfg.allowedPath},
		WatchNamespaces: []string{w.ns},
		// Short enough that no call outlasts a spec's windows.
		Args: append([]string{"--api-timeout=5s"}, cfg.args...),
	}
	w.mgr = startManager(w.ns, w.mgrOptions)
	// Before the manager stops (cleanups run last in, first out).
	DeferCleanup(func() { GinkgoWriter.Println(w.summary()) })
	return w
}

// newNamespace creates the namespace e2e-<name>-<n> and returns its name.
func newNamespace(name string) string {
	GinkgoHelper()
	ns := fmt.Sprintf("e2e-%s-%d", name, nsSeq.Add(1))
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	return ns
}

// summary describes the stand-in's requests and the credentials' conditions:
// the observed values of the spec, also when it passed.
func (w *world) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "observed in %s: requests %v\n", w.ns, w.requestCounts())
	list := &v1alpha1.VoipbinCredentialList{}
	Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
	for _, vbc := range list.Items {
		fmt.Fprintf(&b, "  %s: lastHandledRefreshRequest %q\n", vbc.Name, vbc.Status.LastHandledRefreshRequest)
		for _, c := range vbc.Status.Conditions {
			fmt.Fprintf(&b, "    %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return b.String()
}

// requestCounts counts the stand-in's requests by method, path, status and
// login username.
func (w *world) requestCounts() map[string]int {
	counts := map[string]int{}
	for _, r := range w.api.Requests() {
		key := fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status)
		if r.Username != "" {
			key += " " + r.Username
		}
		counts[key]++
	}
	return counts
}

// requestLog lists the stand-in's requests, one "METHOD path status" each.
func (w *world) requestLog() []string {
	var out []string
	for _, r := range w.api.Requests() {
		out = append(out, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
	}
	return out
}

// reportLoginsOver reports, once window has passed from now, how many logins
// the stand-in received in it: the spec's observed value, also when an assertion
// ended the spec earlier (the report then waits for the rest of the window).
func (w *world) reportLoginsOver(window time.Duration, after string) {
	start, before := time.Now(), w.logins()
	DeferCleanup(func() {
		<-time.After(time.Until(start.Add(window)))
		observe("%d logins in the %s after %s", w.logins()-before, window, after)
	})
}

// logins counts the login requests the stand-in received, whatever their answer.
func (w *world) logins() int { return w.api.Hits(loginPath) }

// loginsAs counts the login requests for username the stand-in handled.
func (w *world) loginsAs(username string) func() int {
	return func() int { return w.api.LoginCount(username) }
}

// secretValue returns a fresh password-like value the leak scan looks for.
func secretValue(label string) string { return label + "-" + harness.RandomString(20) }

// createSecret creates a Secret of w's namespace holding data.
func (w *world) createSecret(name string, data map[string]string) {
	GinkgoHelper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	Expect(k8s.Create(ctx, s)).To(Succeed())
}

// loginSecret creates a login Secret.
func (w *world) loginSecret(name, username, password string) {
	GinkgoHelper()
	scanner.Add("password", password)
	w.createSecret(name, map[string]string{"username": username, "password": password})
}

// agent adds an agent with a fresh password to the stand-in, and its login
// Secret secretName; it returns the username.
func (w *world) agent(secretName, username string) string {
	GinkgoHelper()
	password := secretValue("password")
	w.api.AddAgent(username, password, "")
	w.loginSecret(secretName, username, password)
	return username
}

// accessKey adds an accesskey to the stand-in and creates its Secret.
func (w *world) accessKey(secretName string) {
	GinkgoHelper()
	key := w.api.AddAccessKey(voipbintest.AccessKey{Name: secretName})
	scanner.Add("accesskey", key.Key)
	w.createSecret(secretName, map[string]string{"accesskey": key.Key})
}

// credOption changes a VoipbinCredential before it is created.
type credOption func(*v1alpha1.VoipbinCredential)

func withLogin(secretName string) credOption {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: secretName}}
	}
}

func withAccessKey(secretName string) credOption {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: secretName}}
	}
}

func withRetain() credOption {
	return func(v *v1alpha1.VoipbinCredential) { v.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain }
}

func withAPIURL(apiURL string) credOption {
	return func(v *v1alpha1.VoipbinCredential) { v.Spec.APIURL = apiURL }
}

func withFinalizer(finalizer string) credOption {
	return func(v *v1alpha1.VoipbinCredential) { v.Finalizers = append(v.Finalizers, finalizer) }
}

// managedSecret is the spec.secretName of the VoipbinCredentials of these tests.
func managedSecret(name string) string { return name + "-out" }

// credential returns (does not create) a VoipbinCredential against the stand-in.
func (w *world) credential(name string, opts ...credOption) *v1alpha1.VoipbinCredential {
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec:       v1alpha1.VoipbinCredentialSpec{APIURL: w.url, SecretName: managedSecret(name)},
	}
	for _, o := range opts {
		o(vbc)
	}
	return vbc
}

// create creates a VoipbinCredential against the stand-in.
func (w *world) create(name string, opts ...credOption) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, w.credential(name, opts...))).To(Succeed())
}

// loginCredential adds an agent <name>@<namespace>.example.com with its login
// Secret <name>-login, creates the VoipbinCredential name logging in as it, and
// returns the username.
func (w *world) loginCredential(name string, opts ...credOption) string {
	GinkgoHelper()
	username := w.agent(name+"-login", name+"@"+w.ns+".example.com")
	w.create(name, append([]credOption{withLogin(name + "-login")}, opts...)...)
	return username
}

func (w *world) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: w.ns, Name: name}
}

// get returns a VoipbinCredential as the API server holds it.
func (w *world) get(name string) *v1alpha1.VoipbinCredential {
	GinkgoHelper()
	vbc := &v1alpha1.VoipbinCredential{}
	Expect(k8s.Get(ctx, w.key(name), vbc)).To(Succeed())
	return vbc
}

// gone reports whether a VoipbinCredential no longer exists.
func (w *world) gone(name string) func() bool {
	return func() bool { return apierrors.IsNotFound(k8s.Get(ctx, w.key(name), &v1alpha1.VoipbinCredential{})) }
}

// patch applies mutate to a VoipbinCredential with a merge patch.
func (w *world) patch(name string, mutate func(*v1alpha1.VoipbinCredential)) {
	GinkgoHelper()
	vbc := w.get(name)
	original := vbc.DeepCopy()
	mutate(vbc)
	Expect(k8s.Patch(ctx, vbc, client.MergeFrom(original))).To(Succeed())
}

// requestRefresh sets the refresh-requested-at annotation to a new value and
// returns it.
func (w *world) requestRefresh(name string) string {
	GinkgoHelper()
	value := time.Now().UTC().Format(time.RFC3339Nano)
	w.patch(name, func(v *v1alpha1.VoipbinCredential) {
		metav1.SetMetaDataAnnotation(&v.ObjectMeta, v1alpha1.AnnotationRefreshRequestedAt, value)
	})
	return value
}

// lastHandled returns a VoipbinCredential's status.lastHandledRefreshRequest.
func (w *world) lastHandled(name string) func() string {
	return func() string { return w.get(name).Status.LastHandledRefreshRequest }
}

// condition describes a condition as "Status/Reason: message", or "absent".
func (w *world) condition(name, condType string) string {
	GinkgoHelper()
	c := meta.FindStatusCondition(w.get(name).Status.Conditions, condType)
	if c == nil {
		return "absent"
	}
	return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
}

// conditionOf polls condition.
func (w *world) conditionOf(name, condType string) func() string {
	return func() string { return w.condition(name, condType) }
}

// waitReady waits until a VoipbinCredential is Ready=True with reason Ready.
func (w *world) waitReady(name string) {
	GinkgoHelper()
	Eventually(w.conditionOf(name, v1alpha1.ConditionReady)).Should(HavePrefix("True/Ready:"))
}

// secret returns a Secret of w's namespace, or nil when it does not exist.
func (w *world) secret(name string) *corev1.Secret {
	GinkgoHelper()
	s := &corev1.Secret{}
	err := k8s.Get(ctx, w.key(name), s)
	if apierrors.IsNotFound(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return s
}

// storedToken returns the token a VoipbinCredential's managed Secret holds ("" for none).
func (w *world) storedToken(name string) string {
	GinkgoHelper()
	if s := w.secret(managedSecret(name)); s != nil {
		return string(s.Data[v1alpha1.SecretKeyToken])
	}
	return ""
}

// storedTokenOf polls storedToken.
func (w *world) storedTokenOf(name string) func() string {
	return func() string { return w.storedToken(name) }
}

// eventCount counts the occurrences of events of reason on a VoipbinCredential.
func (w *world) eventCount(name, reason string) func() int {
	return func() int {
		list := &eventsv1.EventList{}
		Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
		n := 0
		for _, ev := range list.Items {
			if ev.Regarding.Name != name || ev.Reason != reason {
				continue
			}
			n++
			if ev.Series != nil {
				n += int(ev.Series.Count) - 1 // a series counts every occurrence, the first included
			}
		}
		return n
	}
}

// kstatus returns what kstatus (GitOps tools, kubectl wait) computes for a
// VoipbinCredential read as unstructured: "Status: message".
func (w *world) kstatus(name string) string {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("VoipbinCredential"))
	Expect(k8s.Get(ctx, w.key(name), u)).To(Succeed())
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return fmt.Sprintf("%s: %s", res.Status, res.Message)
}

// tokenClaims are the claims of a stand-in token these tests read.
type tokenClaims struct {
	Agent struct {
		Username string `json:"username"`
	} `json:"agent"`
	Expire string `json:"expire"`
}

// claimsOf decodes a JWT's payload (no signature check: the stand-in signed it).
func claimsOf(jwt string) tokenClaims {
	GinkgoHelper()
	var claims tokenClaims
	parts := strings.Split(jwt, ".")
	Expect(parts).To(HaveLen(3), "not a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(payload, &claims)).To(Succeed())
	return claims
}

// observe writes an observed value to the spec's report.
func observe(format string, args ...any) {
	GinkgoWriter.Printf("observed: "+format+"\n", args...)
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
