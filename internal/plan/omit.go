package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// A managed Secret written with secretTemplate.omitDefaultKeys holds only the
// rendered keys. What the decisions read from the built-in keys sits in
// annotations instead: the API URL and the token's expiry as they are, the
// token and the accesskey as SHA-256 fingerprints (high-entropy values: the
// fingerprint reveals nothing). withBuiltins puts them back as data keys, so
// that every rule reads such a Secret as it reads any other; the token and the
// accesskey then read as their fingerprints, which sameValue compares with a
// credential and resolve turns back into the credential where this process
// knows it (the accesskey Secret, a result in memory).

// omitting reports whether vbc's managed Secret is written without its
// built-in keys.
func omitting(vbc *v1alpha1.VoipbinCredential) bool {
	t := vbc.Spec.SecretTemplate
	return t != nil && t.OmitDefaultKeys
}

// omittedForm reports whether secret was written without its built-in keys.
func omittedForm(secret *corev1.Secret) bool {
	return secret != nil && secret.Annotations[v1alpha1.AnnotationDefaultKeys] == v1alpha1.DefaultKeysOmitted
}

// builtinAnnotations are the annotations that stand for the built-in keys of
// a Secret in omitted form.
var builtinAnnotations = map[string]string{
	v1alpha1.SecretKeyToken:     v1alpha1.AnnotationTokenFingerprint,
	v1alpha1.SecretKeyExpiresAt: v1alpha1.AnnotationTokenExpiresAt,
	v1alpha1.SecretKeyAccessKey: v1alpha1.AnnotationAccessKeyFingerprint,
	v1alpha1.SecretKeyAPIURL:    v1alpha1.AnnotationAPIURL,
}

// withBuiltins returns secret as the decisions read it: a Secret in omitted
// form with its built-in keys restored from its annotations (the token and
// the accesskey as fingerprints); any other Secret as it is. The rendered keys
// are the only copy of the credentials in such a Secret: when they are not
// what vbc's templates render from those credentials (edited by hand, or the
// templates changed, even to ones that cannot render), the credentials read as
// edited (no data hash), so that fresh ones render it again.
func withBuiltins(secret *corev1.Secret, vbc *v1alpha1.VoipbinCredential) *corev1.Secret {
	if !omittedForm(secret) {
		return secret
	}
	s := secret.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for key, annotation := range builtinAnnotations {
		delete(s.Data, key)
		if v, ok := secret.Annotations[annotation]; ok {
			s.Data[key] = []byte(v)
		}
	}
	rendered := onlyKeys(secret.Data, templateKeys(vbc))
	if secret.Annotations[v1alpha1.AnnotationRenderedHash] != renderedHash(vbc, fingerprinted(s.Data), rendered) {
		delete(s.Annotations, v1alpha1.AnnotationDataHash)
	}
	return s
}

const fingerprintPrefix = "sha256:"

// fingerprint is what a Secret in omitted form keeps of a credential.
func fingerprint(v []byte) []byte {
	sum := sha256.Sum256(v)
	return []byte(fingerprintPrefix + hex.EncodeToString(sum[:]))
}

// isFingerprint reports whether a built-in value read from a Secret is a
// fingerprint rather than the credential. No JWT or VoIPBIN accesskey has this
// shape.
func isFingerprint(v []byte) bool {
	return len(v) == len(fingerprintPrefix)+sha256.Size*2 && bytes.HasPrefix(v, []byte(fingerprintPrefix))
}

// sameValue reports whether a built-in value read from the Secret is
// credential v, itself or as its fingerprint.
func sameValue(stored []byte, v string) bool {
	if string(stored) == v {
		return true
	}
	return isFingerprint(stored) && bytes.Equal(stored, fingerprint([]byte(v)))
}

// credentialKeys are the built-in keys a Secret in omitted form keeps as
// fingerprints.
var credentialKeys = []string{v1alpha1.SecretKeyToken, v1alpha1.SecretKeyAccessKey}

// fingerprinted returns the built-in keys of data with every credential as
// its fingerprint: what a Secret in omitted form says of them, and what its
// data hash covers.
func fingerprinted(data map[string][]byte) map[string][]byte {
	out := onlyKeys(data, operatorKeys)
	for _, k := range credentialKeys {
		if v, ok := out[k]; ok && !isFingerprint(v) {
			out[k] = fingerprint(v)
		}
	}
	return out
}

// resolve returns data with every fingerprint replaced by the credential this
// process knows for it (the accesskey Secret, a token or key in memory), and
// whether a fingerprint is left that it does not know.
func (d *decision) resolve(data map[string][]byte) (map[string][]byte, bool) {
	out := maps.Clone(data)
	known := map[string][]string{}
	if h := d.mem.Token; h != nil {
		known[v1alpha1.SecretKeyToken] = append(known[v1alpha1.SecretKeyToken], h.JWT)
	}
	if in := d.o.Inputs.AccessKey; in != nil {
		known[v1alpha1.SecretKeyAccessKey] = append(known[v1alpha1.SecretKeyAccessKey], in.Key)
	}
	if h := d.mem.Key; h != nil {
		known[v1alpha1.SecretKeyAccessKey] = append(known[v1alpha1.SecretKeyAccessKey], h.Key)
	}
	hidden := false
	for _, k := range credentialKeys {
		v, ok := out[k]
		if !ok || !isFingerprint(v) {
			continue
		}
		found := false
		for _, c := range known[k] {
			if sameValue(v, c) {
				out[k], found = []byte(c), true
				break
			}
		}
		hidden = hidden || !found
	}
	return out, hidden
}

// renderedHash binds the rendered keys of a Secret in omitted form to the
// templates and the credentials they were rendered from, so that a change of
// the templates or a hand edit of a rendered key is seen without the
// credentials at hand.
func renderedHash(vbc *v1alpha1.VoipbinCredential, builtins, rendered map[string][]byte) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, k := range operatorKeys {
		if v, ok := builtins[k]; ok {
			_ = enc.Encode([]any{"builtin", k, len(v)})
			h.Write(v)
		}
	}
	for _, k := range templateKeys(vbc) {
		_ = enc.Encode([]any{"template", k, vbc.Spec.SecretTemplate.Data[k]})
		v := rendered[k]
		_ = enc.Encode([]any{"rendered", k, v != nil, len(v)})
		h.Write(v)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// renderedFor reports whether the Secret's rendered keys are current in
// omitted form for the built-in keys builtins (fingerprinted): rendered by the
// current templates from exactly those credentials, and not edited since.
func (d *decision) renderedFor(builtins map[string][]byte) bool {
	if !omittedForm(d.raw) {
		return false
	}
	rendered := onlyKeys(d.raw.Data, templateKeys(d.vbc))
	return d.raw.Annotations[v1alpha1.AnnotationRenderedHash] == renderedHash(d.vbc, builtins, rendered)
}

// tokenMustRender reports whether the stored token, which the Secret holds
// only as its fingerprint, must be rendered again and is not in memory: the
// built-in keys are to be written out, or the templates or the other
// credentials are no longer those it was rendered with. A fresh login (a
// trigger of loginPart) then brings a token to render the Secret with.
func (d *decision) tokenMustRender() bool {
	s := d.o.Secret
	if s == nil || !isFingerprint(s.Data[v1alpha1.SecretKeyToken]) {
		return false
	}
	if h := d.mem.Token; h != nil && sameValue(s.Data[v1alpha1.SecretKeyToken], h.JWT) {
		return false
	}
	if !omitting(d.vbc) {
		return true
	}
	if checkTemplates(d.vbc) != nil {
		return false // nothing can be rendered until the templates are fixed: no login for it
	}
	next := fingerprinted(s.Data)
	switch {
	case d.vbc.Spec.AccessKey == nil:
		delete(next, v1alpha1.SecretKeyAccessKey)
	case d.heldKey() != nil:
		next[v1alpha1.SecretKeyAccessKey] = fingerprint([]byte(d.heldKey().Key))
	}
	return !d.renderedFor(next)
}

// omittedSecret is the managed Secret in omitted form: the rendered keys, and
// the annotations that stand for the built-in keys builtins (fingerprinted).
func omittedSecret(vbc *v1alpha1.VoipbinCredential, builtins, rendered map[string][]byte, account string) DesiredSecret {
	desired := newDesiredSecret(vbc, rendered)
	if _, ok := builtins[v1alpha1.SecretKeyToken]; ok && account != "" {
		desired.Annotations[v1alpha1.AnnotationTokenAccount] = account
	}
	desired.Annotations[v1alpha1.AnnotationDefaultKeys] = v1alpha1.DefaultKeysOmitted
	for key, annotation := range builtinAnnotations {
		if v, ok := builtins[key]; ok {
			desired.Annotations[annotation] = string(v)
		}
	}
	desired.Annotations[v1alpha1.AnnotationRenderedHash] = renderedHash(vbc, builtins, rendered)
	return desired
}

// storedTokenUsername is the username the stored token was issued to, when
// known: from the token, or for a Secret in omitted form from its account
// fingerprint (the current username if it matches, otherwise one that
// matches no username).
func (d *decision) storedTokenUsername() string {
	if !omittedForm(d.raw) {
		return d.o.SecretTokenUsername
	}
	account, ok := d.raw.Annotations[v1alpha1.AnnotationTokenAccount]
	switch {
	case !ok:
		return ""
	case d.o.Inputs.Login != nil && account == string(fingerprint([]byte(d.o.Inputs.Login.Username))):
		return d.o.Inputs.Login.Username
	default:
		return "\x00another account"
	}
}

// tokenAccount is the account fingerprint of the token a write stores: the
// token in memory's, or the stored one's.
func (d *decision) tokenAccount(loginFresh bool) string {
	if h := d.tokenToStore(); loginFresh && h != nil && h.Username != "" {
		return string(fingerprint([]byte(h.Username)))
	}
	if omittedForm(d.raw) {
		return d.raw.Annotations[v1alpha1.AnnotationTokenAccount]
	}
	if u := d.o.SecretTokenUsername; u != "" {
		return string(fingerprint([]byte(u)))
	}
	return ""
}
