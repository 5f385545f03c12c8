package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// operatorKeys are the data keys of the managed Secret the operator owns. Other
// keys (added by someone else) are neither hashed nor touched.
var operatorKeys = []string{
	v1alpha1.SecretKeyToken, v1alpha1.SecretKeyExpiresAt, v1alpha1.SecretKeyAccessKey, v1alpha1.SecretKeyAPIURL,
}

// dataHash returns the hash of the operator's keys of data, stored in the
// data-hash annotation to detect hand edits. It is a plain SHA-256 over
// high-entropy values and sits on the Secret itself: whoever can read the
// annotation can read the data, so it reveals nothing new.
func dataHash(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range operatorKeys {
		v, ok := data[k]
		if !ok {
			continue
		}
		// Length-prefixed, so that no two different maps hash alike.
		_ = json.NewEncoder(h).Encode([]any{k, len(v)})
		h.Write(v)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// intactFor reports whether the operator's keys of secret are as the operator last
// wrote them for vbc: the data-hash annotation matches either the keys vbc's spec
// asks for (someone may have added a key of their own: not an edit of ours) or all
// of the operator's keys (a spec section was just removed: its key is still there).
func intactFor(secret *corev1.Secret, vbc *v1alpha1.VoipbinCredential) bool {
	if secret == nil {
		return false
	}
	want := secret.Annotations[v1alpha1.AnnotationDataHash]
	return want == dataHash(secret.Data) || want == dataHash(onlyKeys(secret.Data, expectedKeys(vbc)))
}

// intactPart reports whether the managed Secret holds credential p as the
// operator last wrote it: the whole Secret is intact, or its data hash covers
// exactly p's keys and apiURL. A write to a Secret edited by hand vouches only
// for what it refreshed (see applySecret), so that a hand-edited value it had
// to carry over is never taken for the operator's own.
func intactPart(secret *corev1.Secret, vbc *v1alpha1.VoipbinCredential, p part) bool {
	if intactFor(secret, vbc) {
		return true
	}
	return secret != nil && secret.Annotations[v1alpha1.AnnotationDataHash] == dataHash(onlyKeys(secret.Data, vouchedKeys(p)))
}

// vouchedHash is the data hash of a write of data to existing, whose token
// (loginFresh) or accesskey (keyFresh) was refreshed now: the hash of all of
// data, unless existing was edited by hand. Then it covers only the credentials
// refreshed now and those still as the operator wrote them: a hand-edited value
// the write carries over (keys are never removed) stays uncovered, so it is
// not taken for the operator's own and the next attempt still replaces it.
func vouchedHash(existing *corev1.Secret, vbc *v1alpha1.VoipbinCredential, data map[string][]byte, loginFresh, keyFresh bool) string {
	if existing == nil || intactFor(existing, vbc) {
		return dataHash(data)
	}
	var vouched []part
	if loginFresh || intactPart(existing, vbc, partLogin) {
		vouched = append(vouched, partLogin)
	}
	if keyFresh || intactPart(existing, vbc, partAccessKey) {
		vouched = append(vouched, partAccessKey)
	}
	return dataHash(onlyKeys(data, vouchedKeys(vouched...)))
}

// vouchedKeys are the data keys of credentials parts, with apiURL.
func vouchedKeys(parts ...part) []string {
	keys := []string{v1alpha1.SecretKeyAPIURL}
	for _, p := range parts {
		if p == partLogin {
			keys = append(keys, v1alpha1.SecretKeyToken, v1alpha1.SecretKeyExpiresAt)
		} else {
			keys = append(keys, v1alpha1.SecretKeyAccessKey)
		}
	}
	return keys
}

// expectedKeys are the data keys the managed Secret of vbc holds once every
// requested credential has been stored.
func expectedKeys(vbc *v1alpha1.VoipbinCredential) []string {
	keys := []string{v1alpha1.SecretKeyAPIURL}
	if vbc.Spec.Login != nil {
		keys = append(keys, v1alpha1.SecretKeyToken, v1alpha1.SecretKeyExpiresAt)
	}
	if vbc.Spec.AccessKey != nil {
		keys = append(keys, v1alpha1.SecretKeyAccessKey)
	}
	return keys
}

func onlyKeys(data map[string][]byte, keys []string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if v, ok := data[k]; ok {
			out[k] = v
		}
	}
	return out
}

// belongsTo reports whether secret belongs to vbc (docs/architecture.md, "The managed Secret"): it has
// a controller owner reference to vbc, or no controller owner reference and the
// credential label naming vbc. A Secret retained by a deleted VoipbinCredential is
// therefore adopted by a new one of the same name.
func belongsTo(secret *corev1.Secret, vbc *v1alpha1.VoipbinCredential) bool {
	if ref := metav1.GetControllerOfNoCopy(secret); ref != nil {
		return ref.UID == vbc.UID
	}
	return secret.Labels[v1alpha1.LabelCredential] == vbc.Name
}

// DesiredSecret is the managed Secret the operator writes.
type DesiredSecret struct {
	// Type is the Secret's type (secretTemplate.type, default Opaque).
	Type        corev1.SecretType
	Data        map[string][]byte
	Labels      map[string]string
	Annotations map[string]string
	// Owned sets a controller owner reference (deletionPolicy Delete).
	Owned bool
}

// newDesiredSecret returns the Secret for vbc holding data: the operator's labels
// and data-hash annotation over secretTemplate's, and an owner reference unless
// deletionPolicy is Retain.
func newDesiredSecret(vbc *v1alpha1.VoipbinCredential, data map[string][]byte) DesiredSecret {
	d := DesiredSecret{
		Type:        secretType(vbc),
		Data:        data,
		Labels:      map[string]string{},
		Annotations: map[string]string{},
		Owned:       vbc.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain,
	}
	if t := vbc.Spec.SecretTemplate; t != nil {
		maps.Copy(d.Labels, t.Labels)
		maps.Copy(d.Annotations, t.Annotations)
	}
	d.Labels[v1alpha1.LabelManagedBy] = v1alpha1.FieldManager
	d.Labels[v1alpha1.LabelCredential] = vbc.Name
	d.Annotations[v1alpha1.AnnotationDataHash] = dataHash(data)
	return d
}

// Object returns d as the Secret to create: data (never stringData), labels,
// annotations and, with deletionPolicy Delete, the controller owner reference.
func (d DesiredSecret) Object(vbc *v1alpha1.VoipbinCredential) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: vbc.Spec.SecretName, Namespace: vbc.Namespace,
			Labels: maps.Clone(d.Labels), Annotations: maps.Clone(d.Annotations),
		},
		Type: d.Type,
		Data: maps.Clone(d.Data),
	}
	if d.Owned {
		s.OwnerReferences = []metav1.OwnerReference{OwnerReference(vbc)}
	}
	return s
}

// secretType is the managed Secret's type: secretTemplate.type, default Opaque.
func secretType(vbc *v1alpha1.VoipbinCredential) corev1.SecretType {
	if t := vbc.Spec.SecretTemplate; t != nil && t.Type != "" {
		return corev1.SecretType(t.Type)
	}
	return corev1.SecretTypeOpaque
}

// OwnerReference is the controller owner reference of a managed Secret to vbc.
func OwnerReference(vbc *v1alpha1.VoipbinCredential) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "VoipbinCredential",
		Name: vbc.Name, UID: vbc.UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// upToDate reports whether existing already is d, so that no write is needed:
// same operator data, labels and annotations, nothing left over from an older
// secretTemplate, and the owner reference as deletionPolicy wants it.
func (d DesiredSecret) upToDate(existing *corev1.Secret, vbc *v1alpha1.VoipbinCredential) bool {
	if existing == nil {
		return false
	}
	for _, k := range append(slices.Clone(operatorKeys), templateKeys(vbc)...) {
		want, inDesired := d.Data[k]
		have, inExisting := existing.Data[k]
		if inDesired != inExisting || !bytes.Equal(want, have) {
			return false
		}
	}
	if have := existing.Type; have != d.Type && (have != "" || d.Type != corev1.SecretTypeOpaque) {
		return false // refused by the API server: SecretWriteFailed says so
	}
	if !containsAll(existing.Labels, d.Labels) || !containsAll(existing.Annotations, d.Annotations) {
		return false
	}
	owned := ownedFields(existing)
	if !subset(owned.labels, d.Labels) || !subset(owned.annotations, d.Annotations) || !subsetData(owned.data, d.Data) {
		return false
	}
	ref := metav1.GetControllerOfNoCopy(existing)
	hasOurRef := ref != nil && ref.UID == vbc.UID
	return hasOurRef == d.Owned
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// subset reports whether every key in keys is in m.
func subset(keys []string, m map[string]string) bool {
	return !slices.ContainsFunc(keys, func(k string) bool { _, ok := m[k]; return !ok })
}

// subsetData reports whether every key in keys is in data.
func subsetData(keys []string, data map[string][]byte) bool {
	return !slices.ContainsFunc(keys, func(k string) bool { _, ok := data[k]; return !ok })
}

// fieldSet is the labels, annotations and data keys the operator's field manager owns.
type fieldSet struct {
	labels, annotations, data []string
}

// ownedFields reads, from the managed fields of secret, the labels and annotations
// the operator last wrote: by server-side apply, or by the Create that made the
// Secret (an Update entry, handed over to apply before the next apply; see the
// controller's write). One that is no longer desired (a key removed from
// secretTemplate) means the Secret must be written again, which removes it.
func ownedFields(secret *corev1.Secret) fieldSet {
	var fs fieldSet
	for _, mf := range secret.ManagedFields {
		if mf.Manager != v1alpha1.FieldManager || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Labels      map[string]json.RawMessage `json:"f:labels"`
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
			Data map[string]json.RawMessage `json:"f:data"`
		}
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		fs.labels = append(fs.labels, fieldNames(fields.Metadata.Labels)...)
		fs.annotations = append(fs.annotations, fieldNames(fields.Metadata.Annotations)...)
		fs.data = append(fs.data, fieldNames(fields.Data)...)
	}
	return fs
}

// fieldNames turns managed-fields keys ("f:team") into names ("team").
func fieldNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		if len(k) > 2 && k[:2] == "f:" {
			names = append(names, k[2:])
		}
	}
	return names
}
