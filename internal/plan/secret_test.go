package plan

import (
	"maps"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

const testCRUID = types.UID("6a1f0c2e-1111-4222-8333-444455556666")

// testCredential returns a VoipbinCredential "billing" in "apps" asking for a
// login, an accesskey, or both.
func testCredential(login, accessKey bool) *v1alpha1.VoipbinCredential {
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "apps", UID: testCRUID, Generation: 3},
		Spec: v1alpha1.VoipbinCredentialSpec{
			APIURL:         "https://api.voipbin.net",
			SecretName:     "billing-voipbin",
			DeletionPolicy: v1alpha1.DeletionPolicyDelete,
		},
	}
	if login {
		vbc.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{
			Name: "voipbin-login", UsernameKey: "username", PasswordKey: "password"}}
	}
	if accessKey {
		vbc.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{
			Name: "voipbin-accesskey", Key: "accesskey"}}
	}
	return vbc
}

// testFullData is what the managed Secret of a CR with login and accessKey holds.
func testFullData() map[string][]byte {
	return map[string][]byte{
		v1alpha1.SecretKeyToken:     []byte("eyJhbGciOiJIUzI1NiJ9.eyJleHBpcmUiOiIyMDI1In0.c2ln"),
		v1alpha1.SecretKeyExpiresAt: []byte("2025-03-08T12:00:00Z"),
		v1alpha1.SecretKeyAccessKey: []byte("vb_AbCdEfGhIjKlMnOpQrStUvWx"),
		v1alpha1.SecretKeyAPIURL:    []byte("https://api.voipbin.net"),
	}
}

func testLoginData() map[string][]byte {
	d := testFullData()
	delete(d, v1alpha1.SecretKeyAccessKey)
	return d
}

func dataWithKey(data map[string][]byte, key, value string) map[string][]byte {
	d := maps.Clone(data)
	d[key] = []byte(value)
	return d
}

func dataWithoutKey(data map[string][]byte, key string) map[string][]byte {
	d := maps.Clone(data)
	delete(d, key)
	return d
}

func TestDataHash(t *testing.T) {
	base := testFullData()
	h := dataHash(base)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("dataHash = %q, want sha256:<64 hex>", h)
	}
	for range 20 {
		if again := dataHash(maps.Clone(base)); again != h {
			t.Fatalf("dataHash not stable: %q then %q", h, again)
		}
	}
	// Built in another insertion order.
	reordered := map[string][]byte{}
	for _, k := range []string{v1alpha1.SecretKeyAPIURL, v1alpha1.SecretKeyAccessKey, v1alpha1.SecretKeyExpiresAt,
		v1alpha1.SecretKeyToken} {
		reordered[k] = base[k]
	}
	if got := dataHash(reordered); got != h {
		t.Errorf("dataHash depends on insertion order: %q vs %q", got, h)
	}

	t.Run("only operator keys count", func(t *testing.T) {
		for _, foreign := range []string{"ca.crt", "Token", "token ", "other"} {
			if got := dataHash(dataWithKey(base, foreign, "x")); got != h {
				t.Errorf("a foreign key %q changed the hash", foreign)
			}
		}
	})
	t.Run("nil and empty are alike", func(t *testing.T) {
		if dataHash(nil) != dataHash(map[string][]byte{}) {
			t.Error("nil and empty data hash differently")
		}
	})

	different := []struct {
		name string
		a, b map[string][]byte
	}{
		{"token changed", base, dataWithKey(base, v1alpha1.SecretKeyToken, "eyJhbGciOiJIUzI1NiJ9.other.c2ln")},
		{"expiresAt changed", base, dataWithKey(base, v1alpha1.SecretKeyExpiresAt, "2025-03-08T12:00:01Z")},
		{"accesskey changed", base, dataWithKey(base, v1alpha1.SecretKeyAccessKey, "vb_AbCdEfGhIjKlMnOpQrStUvWy")},
		{"apiURL changed", base, dataWithKey(base, v1alpha1.SecretKeyAPIURL, "https://api.voipbin.net/")},
		{"key removed", base, dataWithoutKey(base, v1alpha1.SecretKeyAccessKey)},
		{"absent vs empty", map[string][]byte{}, map[string][]byte{v1alpha1.SecretKeyToken: {}}},
		{"empty value in one key or another",
			map[string][]byte{v1alpha1.SecretKeyToken: {}},
			map[string][]byte{v1alpha1.SecretKeyAccessKey: {}}},
		{"same value under another key",
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("v")},
			map[string][]byte{v1alpha1.SecretKeyAccessKey: []byte("v")}},
		// Plain concatenation of key and value would make these alike:
		// "token" "xexpiresAt" "" vs "token" "x" "expiresAt" "".
		{"value swallowing the next key",
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("xexpiresAt")},
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("x"), v1alpha1.SecretKeyExpiresAt: {}}},
		// "token" "ab" "expiresAt" "c" vs "token" "a" ... with the boundary moved.
		{"boundary between two values moved",
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("abc"), v1alpha1.SecretKeyAPIURL: []byte("d")},
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("ab"), v1alpha1.SecretKeyAPIURL: []byte("cd")}},
		// A value holding what the length prefix of the next key looks like.
		{"value forging the next key's prefix",
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("a[\"expiresAt\",1]\nb")},
			map[string][]byte{v1alpha1.SecretKeyToken: []byte("a"), v1alpha1.SecretKeyExpiresAt: []byte("b")}},
	}
	for _, tt := range different {
		t.Run(tt.name, func(t *testing.T) {
			if dataHash(tt.a) == dataHash(tt.b) {
				t.Errorf("different data hash alike: %q", dataHash(tt.a))
			}
		})
	}
}

// annotatedSecret returns a managed Secret holding data, with the data-hash
// annotation of hashed (what the operator last wrote).
func annotatedSecret(data, hashed map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin", Namespace: "apps",
			Annotations: map[string]string{v1alpha1.AnnotationDataHash: dataHash(hashed)}},
		Data: data,
	}
}

func TestIntactFor(t *testing.T) {
	both := testCredential(true, true)
	loginOnly := testCredential(true, false)
	keyOnly := testCredential(false, true)
	tests := []struct {
		name   string
		secret *corev1.Secret
		vbc    *v1alpha1.VoipbinCredential
		want   bool
	}{
		{name: "nil Secret", secret: nil, vbc: both, want: false},
		{name: "as written, login and accesskey", secret: annotatedSecret(testFullData(), testFullData()), vbc: both, want: true},
		{name: "as written, login only", secret: annotatedSecret(testLoginData(), testLoginData()), vbc: loginOnly, want: true},
		{name: "as written, accesskey only",
			secret: annotatedSecret(dataWithoutKey(dataWithoutKey(testFullData(), "token"), "expiresAt"),
				dataWithoutKey(dataWithoutKey(testFullData(), "token"), "expiresAt")),
			vbc: keyOnly, want: true},
		{name: "first credential stored, the other not yet",
			secret: annotatedSecret(dataWithoutKey(dataWithoutKey(testFullData(), "token"), "expiresAt"),
				dataWithoutKey(dataWithoutKey(testFullData(), "token"), "expiresAt")),
			vbc: both, want: true},
		{name: "extra foreign key added by someone", secret: annotatedSecret(dataWithKey(testFullData(), "ca.crt", "pem"), testFullData()),
			vbc: both, want: true},
		{name: "operator-named key the spec does not ask for, added by someone",
			secret: annotatedSecret(dataWithKey(testLoginData(), v1alpha1.SecretKeyAccessKey, "vb_added"), testLoginData()),
			vbc:    loginOnly, want: true},
		{name: "accessKey section just removed: its key is still there",
			secret: annotatedSecret(testFullData(), testFullData()), vbc: loginOnly, want: true},
		{name: "login section just removed: its keys are still there",
			secret: annotatedSecret(testFullData(), testFullData()), vbc: keyOnly, want: true},
		{name: "token edited", secret: annotatedSecret(dataWithKey(testFullData(), "token", "edited"), testFullData()),
			vbc: both, want: false},
		{name: "expiresAt edited", secret: annotatedSecret(dataWithKey(testFullData(), "expiresAt", "2099-01-01T00:00:00Z"), testFullData()),
			vbc: both, want: false},
		{name: "accesskey edited", secret: annotatedSecret(dataWithKey(testFullData(), "accesskey", "vb_other"), testFullData()),
			vbc: both, want: false},
		{name: "apiURL edited", secret: annotatedSecret(dataWithKey(testFullData(), "apiURL", "https://evil.example.com"), testFullData()),
			vbc: both, want: false},
		{name: "token removed", secret: annotatedSecret(dataWithoutKey(testFullData(), "token"), testFullData()), vbc: both, want: false},
		{name: "token removed, login only", secret: annotatedSecret(dataWithoutKey(testLoginData(), "token"), testLoginData()),
			vbc: loginOnly, want: false},
		{name: "accesskey removed", secret: annotatedSecret(dataWithoutKey(testFullData(), "accesskey"), testFullData()),
			vbc: both, want: false},
		{name: "token emptied", secret: annotatedSecret(dataWithKey(testFullData(), "token", ""), testFullData()), vbc: both, want: false},
		{name: "all data removed", secret: annotatedSecret(nil, testFullData()), vbc: both, want: false},
		{name: "no annotation",
			secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin"}, Data: testFullData()},
			vbc:    both, want: false},
		{name: "annotation edited",
			secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin",
				Annotations: map[string]string{v1alpha1.AnnotationDataHash: "sha256:0000"}}, Data: testFullData()},
			vbc: both, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := intactFor(tt.secret, tt.vbc); got != tt.want {
				t.Errorf("intactFor = %t, want %t", got, tt.want)
			}
		})
	}
}

// TestIntactPart: after a hand edit, a write vouches only for the credential it
// refreshed (a regression found by the soak: the hand-edited token was vouched
// for by a write of the accesskey).
func TestIntactPart(t *testing.T) {
	both := testCredential(true, true)
	editedToken := dataWithKey(testFullData(), "token", "edited")
	tests := []struct {
		name           string
		secret         *corev1.Secret
		login, keyPart bool
	}{
		{name: "nil Secret", secret: nil},
		{name: "intact", secret: annotatedSecret(testFullData(), testFullData()), login: true, keyPart: true},
		{name: "token edited", secret: annotatedSecret(editedToken, testFullData())},
		{name: "token edited, then the key refreshed: only the key vouched for",
			secret: annotatedSecret(editedToken, onlyKeys(editedToken, vouchedKeys(partAccessKey))), keyPart: true},
		{name: "key edited, then a login: only the token vouched for",
			secret: annotatedSecret(dataWithKey(testFullData(), "accesskey", "vb_other"),
				onlyKeys(testFullData(), vouchedKeys(partLogin))), login: true},
		{name: "key vouched for, then the key edited again",
			secret: annotatedSecret(dataWithKey(editedToken, "accesskey", "vb_other"), onlyKeys(editedToken, vouchedKeys(partAccessKey)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := intactPart(tt.secret, both, partLogin); got != tt.login {
				t.Errorf("intactPart(login) = %t, want %t", got, tt.login)
			}
			if got := intactPart(tt.secret, both, partAccessKey); got != tt.keyPart {
				t.Errorf("intactPart(accesskey) = %t, want %t", got, tt.keyPart)
			}
		})
	}
}

func testOwnerRef(uid types.UID, name string, controller bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "VoipbinCredential",
		Name: name, UID: uid, Controller: ptr.To(controller)}
}

func TestBelongsTo(t *testing.T) {
	vbc := testCredential(true, false)
	other := types.UID("99999999-0000-4000-8000-000000000000")
	label := func(name string) map[string]string { return map[string]string{v1alpha1.LabelCredential: name} }
	tests := []struct {
		name   string
		refs   []metav1.OwnerReference
		labels map[string]string
		want   bool
	}{
		{name: "controller owner reference to this CR", refs: []metav1.OwnerReference{testOwnerRef(testCRUID, "billing", true)},
			want: true},
		{name: "controller owner reference to this CR, label naming another",
			refs: []metav1.OwnerReference{testOwnerRef(testCRUID, "billing", true)}, labels: label("other"), want: true},
		{name: "controller owner reference to another UID (a deleted CR of the same name)",
			refs: []metav1.OwnerReference{testOwnerRef(other, "billing", true)}, labels: label("billing"), want: false},
		{name: "controller owner reference to another kind",
			refs: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "billing", UID: other,
				Controller: ptr.To(true)}}, labels: label("billing"), want: false},
		{name: "no owner reference, label naming this CR (retained, adopted)", labels: label("billing"), want: true},
		{name: "no owner reference, label naming another CR", labels: label("billing-2"), want: false},
		{name: "no owner reference, empty label", labels: label(""), want: false},
		{name: "no owner reference, no label", want: false},
		{name: "only the managed-by label",
			labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.FieldManager}, want: false},
		{name: "non-controller owner reference to this CR, no label",
			refs: []metav1.OwnerReference{testOwnerRef(testCRUID, "billing", false)}, want: false},
		{name: "non-controller owner reference to another UID, label naming this CR",
			refs: []metav1.OwnerReference{testOwnerRef(other, "x", false)}, labels: label("billing"), want: true},
		{name: "owner reference with Controller unset, label naming this CR",
			refs:   []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: other}},
			labels: label("billing"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin", Namespace: "apps",
				Labels: tt.labels, OwnerReferences: tt.refs}}
			if got := belongsTo(s, vbc); got != tt.want {
				t.Errorf("belongsTo = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestDesiredSecret(t *testing.T) {
	data := testLoginData()
	tests := []struct {
		name            string
		policy          v1alpha1.DeletionPolicy
		template        *v1alpha1.SecretTemplate
		wantOwned       bool
		wantLabels      map[string]string
		wantAnnotations map[string]string
	}{
		{name: "Delete, no template", policy: v1alpha1.DeletionPolicyDelete, wantOwned: true,
			wantLabels: map[string]string{
				v1alpha1.LabelManagedBy:  v1alpha1.FieldManager,
				v1alpha1.LabelCredential: "billing"},
			wantAnnotations: map[string]string{v1alpha1.AnnotationDataHash: dataHash(data)}},
		{name: "policy unset defaults to Delete", policy: "", wantOwned: true,
			wantLabels: map[string]string{
				v1alpha1.LabelManagedBy:  v1alpha1.FieldManager,
				v1alpha1.LabelCredential: "billing"},
			wantAnnotations: map[string]string{v1alpha1.AnnotationDataHash: dataHash(data)}},
		{name: "Retain, template merged", policy: v1alpha1.DeletionPolicyRetain, wantOwned: false,
			template: &v1alpha1.SecretTemplate{
				Labels:      map[string]string{"team": "billing", "tier": "backend"},
				Annotations: map[string]string{"reloader.stakater.com/match": "true"}},
			wantLabels: map[string]string{
				"team": "billing", "tier": "backend",
				v1alpha1.LabelManagedBy:  v1alpha1.FieldManager,
				v1alpha1.LabelCredential: "billing"},
			wantAnnotations: map[string]string{
				"reloader.stakater.com/match": "true",
				v1alpha1.AnnotationDataHash:   dataHash(data)}},
		{name: "the operator's labels and annotation win over the template's", policy: v1alpha1.DeletionPolicyDelete,
			wantOwned: true,
			template: &v1alpha1.SecretTemplate{
				Labels: map[string]string{v1alpha1.LabelCredential: "someone-else", v1alpha1.LabelManagedBy: "helm",
					"team": "billing"},
				Annotations: map[string]string{v1alpha1.AnnotationDataHash: "sha256:forged"}},
			wantLabels: map[string]string{
				"team":                   "billing",
				v1alpha1.LabelManagedBy:  v1alpha1.FieldManager,
				v1alpha1.LabelCredential: "billing"},
			wantAnnotations: map[string]string{v1alpha1.AnnotationDataHash: dataHash(data)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vbc := testCredential(true, false)
			vbc.Spec.DeletionPolicy = tt.policy
			vbc.Spec.SecretTemplate = tt.template.DeepCopy()
			d := newDesiredSecret(vbc, data)
			if d.Owned != tt.wantOwned {
				t.Errorf("Owned = %t, want %t", d.Owned, tt.wantOwned)
			}
			if !maps.Equal(d.Labels, tt.wantLabels) {
				t.Errorf("labels = %v, want %v", d.Labels, tt.wantLabels)
			}
			if !maps.Equal(d.Annotations, tt.wantAnnotations) {
				t.Errorf("annotations = %v, want %v", d.Annotations, tt.wantAnnotations)
			}
			if !maps.EqualFunc(d.Data, data, slices.Equal) {
				t.Errorf("data = %v, want %v", d.Data, data)
			}
			// The CR's template is not modified by merging.
			d.Labels["mutated"] = "yes"
			if tt.template != nil && !maps.Equal(vbc.Spec.SecretTemplate.Labels, tt.template.Labels) {
				t.Errorf("the CR's secretTemplate.labels changed: %v", vbc.Spec.SecretTemplate.Labels)
			}

			obj := d.Object(vbc)
			if obj.Name != "billing-voipbin" || obj.Namespace != "apps" {
				t.Errorf("object names %s/%s", obj.Namespace, obj.Name)
			}
			if obj.Type != corev1.SecretTypeOpaque {
				t.Errorf("type = %v, want Opaque", obj.Type)
			}
			if obj.StringData != nil || !maps.EqualFunc(obj.Data, data, slices.Equal) {
				t.Errorf("data = %v, stringData = %v; want data only", obj.Data, obj.StringData)
			}
			if !maps.Equal(obj.Labels, d.Labels) || !maps.Equal(obj.Annotations, d.Annotations) {
				t.Errorf("object labels %v, annotations %v", obj.Labels, obj.Annotations)
			}
			switch {
			case !tt.wantOwned && len(obj.OwnerReferences) != 0:
				t.Errorf("Retain: owner references %v, want none", obj.OwnerReferences)
			case tt.wantOwned && len(obj.OwnerReferences) != 1:
				t.Errorf("Delete: %d owner references, want 1", len(obj.OwnerReferences))
			case tt.wantOwned:
				ref := obj.OwnerReferences[0]
				if ref.UID != testCRUID || ref.Name != "billing" || ref.Kind != "VoipbinCredential" ||
					ref.APIVersion != v1alpha1.GroupVersion.String() ||
					!ptr.Deref(ref.Controller, false) || !ptr.Deref(ref.BlockOwnerDeletion, false) {
					t.Errorf("owner reference = %+v", ref)
				}
			}
		})
	}
}

// managedFieldsJSON is the FieldsV1 of an apply that set the given labels and
// annotations, data keys and an owner reference, as the API server records it.
func managedFieldsJSON(labels, annotations []string) []byte {
	var b []byte
	b = append(b, `{"f:data":{".":{},"f:token":{}},"f:metadata":{`...)
	b = append(b, `"f:annotations":{".":{}`...)
	for _, a := range annotations {
		b = append(b, `,"f:`+a+`":{}`...)
	}
	b = append(b, `},"f:labels":{".":{}`...)
	for _, l := range labels {
		b = append(b, `,"f:`+l+`":{}`...)
	}
	b = append(b, `}},"f:type":{}}`...)
	return b
}

// applied returns the managed Secret as the operator applied it for vbc with
// this data, then changed by edit (if not nil): the existing Secret of a table
// case.
func applied(vbc *v1alpha1.VoipbinCredential, data map[string][]byte, edit func(*corev1.Secret)) func() *corev1.Secret {
	return func() *corev1.Secret {
		s := appliedSecret(newDesiredSecret(vbc, data), vbc)
		if edit != nil {
			edit(s)
		}
		return s
	}
}

// ownField records in s's managed fields that manager owns fieldsV1 through op.
func ownField(s *corev1.Secret, manager string, op metav1.ManagedFieldsOperationType, fieldsV1 string) {
	s.ManagedFields = append(s.ManagedFields, metav1.ManagedFieldsEntry{
		Manager: manager, Operation: op, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fieldsV1)})
}

// appliedSecret returns the managed Secret as the API server holds it after
// the operator applied d for vbc: data, labels, annotations, owner reference,
// and the operator's managed fields.
func appliedSecret(d DesiredSecret, vbc *v1alpha1.VoipbinCredential) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: vbc.Spec.SecretName, Namespace: vbc.Namespace,
			Labels: maps.Clone(d.Labels), Annotations: maps.Clone(d.Annotations),
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: v1alpha1.FieldManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1",
				FieldsType: "FieldsV1",
				FieldsV1: metav1.NewFieldsV1(string(managedFieldsJSON(
					slices.Collect(maps.Keys(d.Labels)), slices.Collect(maps.Keys(d.Annotations))))),
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: maps.Clone(d.Data),
	}
	if d.Owned {
		s.OwnerReferences = []metav1.OwnerReference{testOwnerRef(vbc.UID, vbc.Name, true)}
	}
	return s
}

func TestUpToDate(t *testing.T) {
	template := &v1alpha1.SecretTemplate{
		Labels:      map[string]string{"team": "billing"},
		Annotations: map[string]string{"note": "managed"},
	}
	newVBC := func(policy v1alpha1.DeletionPolicy, tmpl *v1alpha1.SecretTemplate) *v1alpha1.VoipbinCredential {
		vbc := testCredential(true, true)
		vbc.Spec.DeletionPolicy = policy
		vbc.Spec.SecretTemplate = tmpl.DeepCopy()
		return vbc
	}
	tests := []struct {
		name string
		// vbc is what the Secret is compared against.
		vbc *v1alpha1.VoipbinCredential
		// data is the desired data.
		data map[string][]byte
		// existing is built from what the operator applied earlier, then edited.
		existing func() *corev1.Secret
		want     bool
	}{
		{name: "everything matches, Delete",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), nil), want: true},
		{name: "everything matches, Retain",
			vbc: newVBC(v1alpha1.DeletionPolicyRetain, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyRetain, template), testFullData(), nil), want: true},
		{name: "no Secret yet", vbc: newVBC(v1alpha1.DeletionPolicyDelete, nil), data: testFullData(),
			existing: func() *corev1.Secret { return nil }, want: false},
		{name: "token differs", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data:     dataWithKey(testFullData(), v1alpha1.SecretKeyToken, "new-token"),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), nil), want: false},
		{name: "a desired key is missing from the Secret", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				delete(s.Data, v1alpha1.SecretKeyAccessKey)
			}), want: false},
		{name: "an operator key no longer desired is still there", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data: testLoginData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testLoginData(), func(s *corev1.Secret) {
				s.Data[v1alpha1.SecretKeyAccessKey] = []byte("vb_old")
			}), want: false},
		{name: "a foreign data key is left alone", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.Data["ca.crt"] = []byte("pem")
			}), want: true},
		{name: "a template label differs", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.Labels["team"] = "payments"
			}), want: false},
		{name: "an operator label was removed", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				delete(s.Labels, v1alpha1.LabelCredential)
			}), want: false},
		{name: "a template annotation differs", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.Annotations["note"] = "edited"
			}), want: false},
		{name: "the data-hash annotation differs", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.Annotations[v1alpha1.AnnotationDataHash] = "sha256:stale"
			}), want: false},
		{name: "a label added by someone else is left alone", vbc: newVBC(v1alpha1.DeletionPolicyDelete, template),
			data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.Labels["added-by-kubectl"] = "yes"
				ownField(s, "kubectl-label", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:added-by-kubectl":{}}}}`)
			}), want: true},
		{name: "a template label was removed from the spec",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, nil), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), nil), want: false},
		{name: "a template label was removed, only the label in managedFields",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, nil), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, nil), testFullData(), func(s *corev1.Secret) {
				s.Labels["team"] = "billing"
				ownField(s, v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:team":{}}}}`)
			}), want: false},
		{name: "a template annotation was removed from the spec",
			vbc:      newVBC(v1alpha1.DeletionPolicyDelete, &v1alpha1.SecretTemplate{Labels: template.Labels}),
			data:     testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), nil), want: false},
		{name: "the same label owned by another manager does not count",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, nil), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, nil), testFullData(), func(s *corev1.Secret) {
				s.Labels["team"] = "billing"
				ownField(s, "helm", metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:team":{}}}}`)
			}), want: true},
		{name: "Delete wanted, no owner reference (was Retain)",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyRetain, template), testFullData(), nil), want: false},
		{name: "Retain wanted, owner reference still set (was Delete)",
			vbc: newVBC(v1alpha1.DeletionPolicyRetain, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), nil), want: false},
		{name: "Delete wanted, owner reference to an older CR of the same name",
			vbc: newVBC(v1alpha1.DeletionPolicyDelete, template), data: testFullData(),
			existing: applied(newVBC(v1alpha1.DeletionPolicyDelete, template), testFullData(), func(s *corev1.Secret) {
				s.OwnerReferences[0].UID = "99999999-0000-4000-8000-000000000000"
			}), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDesiredSecret(tt.vbc, tt.data)
			if got := d.upToDate(tt.existing(), tt.vbc); got != tt.want {
				t.Errorf("upToDate = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestOwnedFields(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, raw string) metav1.ManagedFieldsEntry {
		e := metav1.ManagedFieldsEntry{Manager: manager, Operation: op, FieldsType: "FieldsV1"}
		if raw != "" {
			e.FieldsV1 = metav1.NewFieldsV1(raw)
		}
		return e
	}
	tests := []struct {
		name            string
		entries         []metav1.ManagedFieldsEntry
		wantLabels      []string
		wantAnnotations []string
	}{
		{name: "no managed fields"},
		{name: "the operator's apply",
			entries: []metav1.ManagedFieldsEntry{entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply,
				string(managedFieldsJSON(
					[]string{"team", v1alpha1.LabelManagedBy, v1alpha1.LabelCredential},
					[]string{v1alpha1.AnnotationDataHash})))},
			wantLabels:      []string{"team", v1alpha1.LabelManagedBy, v1alpha1.LabelCredential},
			wantAnnotations: []string{v1alpha1.AnnotationDataHash}},
		{name: "labels only",
			entries: []metav1.ManagedFieldsEntry{entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply,
				`{"f:metadata":{"f:labels":{"f:team":{}}}}`)},
			wantLabels: []string{"team"}},
		{name: "other managers' fields are not the operator's; its own Create (an Update entry) is",
			entries: []metav1.ManagedFieldsEntry{
				entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:a":{}}}}`),
				entry("helm", metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:b":{}}}}`),
				entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationUpdate,
					`{"f:metadata":{"f:annotations":{"f:c":{}}}}`),
				entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply,
					`{"f:metadata":{"f:labels":{"f:d":{}},"f:annotations":{"f:e":{}}}}`),
			},
			wantLabels: []string{"d"}, wantAnnotations: []string{"c", "e"}},
		{name: "unreadable and missing FieldsV1 are skipped",
			entries: []metav1.ManagedFieldsEntry{
				entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, `{not json`),
				entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, ""),
				entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:ok":{}}}}`),
			},
			wantLabels: []string{"ok"}},
		{name: "data and owner references are not labels",
			entries: []metav1.ManagedFieldsEntry{entry(v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply,
				`{"f:data":{"f:token":{}},"f:metadata":{"f:ownerReferences":{"k:{\"uid\":\"x\"}":{}}}}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ManagedFields: tt.entries}}
			got := ownedFields(s)
			if !sameStringSet(got.labels, tt.wantLabels) {
				t.Errorf("labels = %q, want %q", got.labels, tt.wantLabels)
			}
			if !sameStringSet(got.annotations, tt.wantAnnotations) {
				t.Errorf("annotations = %q, want %q", got.annotations, tt.wantAnnotations)
			}
		})
	}
}

func sameStringSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
