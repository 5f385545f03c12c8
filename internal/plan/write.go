package plan

import (
	"maps"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// fold records the outcome of the previous action.
func (d *decision) fold() {
	switch out := d.o.Outcome; {
	case out.Login != nil:
		d.foldLogin(out.Login)
	case out.Check != nil:
		d.foldCheck(out.Check)
	case out.Write != nil:
		d.foldWrite(out.Write)
	case out.Mint != nil:
		d.foldMint(out.Mint)
	case out.List != nil:
		d.foldList(out.List)
	case out.Revoke != nil:
		d.foldRevoke(out.Revoke)
	}
}

// absorb records what the Secret now holds of the results in memory.
func (d *decision) absorb() {
	d.absorbToken()
	d.absorbKey()
}

// attemptInputs identifies what an attempt depends on: the CR's generation, the
// input Secret's version, the endpoint and the refresh request. A failed attempt
// is retried at once when any of them changes, or when the credential it left
// in the Secret is gone (see Attempt.remembered).
func attemptInputs(vbc *v1alpha1.VoipbinCredential, secretVersion, endpointHash string) string {
	return strings.Join([]string{
		strconv.FormatInt(vbc.Generation, 10), secretVersion, endpointHash,
		vbc.Annotations[v1alpha1.AnnotationRefreshRequestedAt],
	}, "|")
}

// writeInputs identifies what a write depends on: the CR's generation and the
// Secret's version. A failed write is retried at once when either changes,
// otherwise on the transient backoff.
func (d *decision) writeInputs() string {
	rv := "none"
	if d.o.Secret != nil {
		rv = string(d.o.Secret.UID) + "/" + d.o.Secret.ResourceVersion
	}
	return strconv.FormatInt(d.vbc.Generation, 10) + "|" + rv
}

// foldWrite records a failed write of the managed Secret: retried on the
// transient backoff, never later than half the time the stored credential has
// left. The result in memory stays, so the retry stores it without a new call.
func (d *decision) foldWrite(out *WriteOutcome) {
	count := d.mem.Write.Count + 1
	f := Failure{Kind: Transient, Reason: v1alpha1.ReasonSecretWriteFailed, Description: out.Message}
	var expiries []time.Time
	if d.vbc.Spec.Login != nil {
		if t := d.storedToken(); t.present {
			expiries = append(expiries, t.expiresAt)
		}
	}
	if d.vbc.Spec.AccessKey != nil {
		if e := d.storedKey().knownExpiry(); e != nil {
			expiries = append(expiries, *e)
		}
	}
	var validUntil *time.Time
	if e := earliest(expiries...); !e.IsZero() && d.now.Before(e) {
		validUntil = &e
	}
	d.mem.Write = Attempt{Inputs: d.writeInputs(), NotBefore: nextAttempt(f, count, validUntil, d.now, d.vbc.UID),
		Failure: &f, Count: count}
	if count == 1 {
		d.event(corev1.EventTypeWarning, v1alpha1.EventSecretWriteFailed, "WriteSecret",
			"the managed Secret could not be written: "+out.Message)
	}
}

// writeDecision is a Secret to write, or when to try again.
type writeDecision struct {
	secret   *corev1.Secret
	replaces types.UID
	wake     time.Time
}

// writePart returns the managed Secret to write, if it must change: a result in
// memory to store, or labels, annotations or the owner reference to bring back in
// line. Keys are replaced, never removed, except when their spec section is
// removed; a Secret edited by hand is left as it is until a fresh credential
// replaces the edit; no Secret is created before one credential is usable.
func (d *decision) writePart() writeDecision {
	existing, vbc := d.o.Secret, d.vbc
	if d.templateErr = checkTemplates(vbc); d.templateErr != nil {
		return writeDecision{}
	}
	tok, key := d.tokenToStore(), d.keyToStore()
	fresh := tok != nil || key != nil
	if existing != nil && !intactFor(existing, vbc) && !fresh {
		return writeDecision{}
	}
	data, issuedAt := d.desiredData(tok, key)
	if data == nil {
		return writeDecision{}
	}
	desired, ok := d.shape(data, tok != nil, key != nil)
	if !ok {
		return writeDecision{}
	}
	if issuedAt != "" {
		desired.Annotations[v1alpha1.AnnotationTokenIssuedAt] = issuedAt
	}
	if issuing(vbc) {
		maps.Copy(desired.Annotations, d.issuedAnnotations(key))
	}
	if desired.upToDate(d.raw, vbc) {
		d.mem.Write = Attempt{}
		return writeDecision{}
	}
	if r := d.mem.Write.remembered(d.writeInputs(), true); r != nil && d.now.Before(r.NotBefore) {
		return writeDecision{wake: r.NotBefore}
	}
	w := writeDecision{secret: desired.Object(vbc)}
	if existing != nil {
		w.replaces = existing.UID
	}
	return w
}

// shape renders the templates over data (the built-in keys to store) and
// returns the Secret to write: with the built-in keys, or in omitted form. It
// fails when a template cannot be rendered (TemplateError), and when data
// holds a credential as a fingerprint only (a Secret in omitted form) that
// must be written out or rendered again: storedToken then no longer counts it
// as stored, and a fresh login brings it. Rendered keys already current for
// the same credentials are kept as they are.
func (d *decision) shape(data map[string][]byte, loginFresh, keyFresh bool) (DesiredSecret, bool) {
	vbc := d.vbc
	values, hidden := d.resolve(data)
	if omitting(vbc) && hidden {
		builtins := fingerprinted(data)
		if d.renderedFor(builtins) {
			kept := omittedSecret(vbc, builtins, onlyKeys(d.raw.Data, templateKeys(vbc)), d.tokenAccount(loginFresh))
			return d.withDataHash(kept, builtins, loginFresh, keyFresh), true
		}
		if loginFresh && isFingerprint(values[v1alpha1.SecretKeyAccessKey]) {
			// An accesskey known by its fingerprint only is not the one the
			// accesskey Secret names (that one is known): it cannot be rendered,
			// and it must not hold the new token back. It is left out.
			delete(values, v1alpha1.SecretKeyAccessKey)
			hidden = false
		}
	}
	if hidden {
		return DesiredSecret{}, false
	}
	rendered, terr := renderTemplates(vbc, values)
	if terr != nil {
		// The Secret is left exactly as it was; a held token stays held.
		d.templateErr = terr
		return DesiredSecret{}, false
	}
	if omitting(vbc) {
		builtins := fingerprinted(values)
		return d.withDataHash(omittedSecret(vbc, builtins, rendered, d.tokenAccount(loginFresh)), builtins, loginFresh, keyFresh), true
	}
	maps.Copy(values, rendered)
	return d.withDataHash(newDesiredSecret(vbc, values), values, loginFresh, keyFresh), true
}

// withDataHash sets desired's data hash over builtins (see vouchedHash).
func (d *decision) withDataHash(desired DesiredSecret, builtins map[string][]byte, loginFresh, keyFresh bool) DesiredSecret {
	desired.Annotations[v1alpha1.AnnotationDataHash] = vouchedHash(d.o.Secret, d.vbc, builtins, loginFresh, keyFresh)
	return desired
}

// desiredData is the managed Secret's data: the results in memory, the stored
// credentials carried over, apiURL; nil when there is nothing to store yet.
func (d *decision) desiredData(tok *HeldToken, key *HeldKey) (map[string][]byte, string) {
	existing, vbc := d.o.Secret, d.vbc
	fresh := tok != nil || key != nil
	old := map[string][]byte{}
	if existing != nil {
		old = existing.Data
	}
	// A fresh credential from another apiURL than the stored ones replaces them
	// all: the Secret's apiURL says where every credential in it came from.
	carry := !fresh || string(old[v1alpha1.SecretKeyAPIURL]) == d.o.Inputs.Endpoint.URL
	data := map[string][]byte{}
	issuedAt := ""
	if vbc.Spec.Login != nil {
		if tok != nil {
			data[v1alpha1.SecretKeyToken] = []byte(tok.JWT)
			data[v1alpha1.SecretKeyExpiresAt] = []byte(timestamp(tok.ExpiresAt))
			issuedAt = timestamp(tok.IssuedAt)
		} else if _, ok := old[v1alpha1.SecretKeyToken]; ok && carry {
			data[v1alpha1.SecretKeyToken] = old[v1alpha1.SecretKeyToken]
			data[v1alpha1.SecretKeyExpiresAt] = old[v1alpha1.SecretKeyExpiresAt]
			issuedAt = existing.Annotations[v1alpha1.AnnotationTokenIssuedAt]
		}
	}
	if vbc.Spec.AccessKey != nil {
		if key != nil {
			data[v1alpha1.SecretKeyAccessKey] = []byte(key.Key)
		} else if v, ok := old[v1alpha1.SecretKeyAccessKey]; ok && carry {
			data[v1alpha1.SecretKeyAccessKey] = v
		}
	}
	if len(data) == 0 && existing == nil {
		return nil, ""
	}
	data[v1alpha1.SecretKeyAPIURL] = []byte(d.o.Inputs.Endpoint.URL)
	if v, ok := old[v1alpha1.SecretKeyAPIURL]; ok && !fresh {
		data[v1alpha1.SecretKeyAPIURL] = v // the URL the stored credentials came from
	}
	return data, issuedAt
}

// tokenToStore is the token in memory to write: obtained with the current inputs,
// unexpired, and not older than the stored one.
func (d *decision) tokenToStore() *HeldToken {
	if d.vbc.Spec.Login == nil {
		return nil
	}
	h := d.heldToken()
	if h == nil {
		return nil
	}
	if s := d.storedToken(); s.present && h.ExpiresAt.Before(s.expiresAt) {
		return nil
	}
	return h
}

// keyToStore is the accesskey validated in memory, to write.
func (d *decision) keyToStore() *HeldKey {
	if d.vbc.Spec.AccessKey == nil {
		return nil
	}
	if issuing(d.vbc) {
		return d.heldIssued()
	}
	return d.heldKey()
}

// suspend reports a suspended CR: no API call and no write; Ready stays True
// until a stored credential expires. It returns when to look again.
func (d *decision) suspend() time.Time {
	vbc := d.vbc
	var expiries []time.Time
	usable := d.o.Secret != nil && belongsTo(d.o.Secret, vbc)
	if vbc.Spec.Login != nil {
		tok := d.storedToken()
		valid := tok.present && d.now.Before(tok.expiresAt)
		usable = usable && valid
		expiries = append(expiries, tok.expiresAt)
		if !valid {
			setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
				"suspended, and no valid token is stored", d.now)
		}
	}
	if vbc.Spec.AccessKey != nil {
		key := d.storedKey()
		valid := key.present && (key.expiresAt.IsZero() || d.now.Before(key.expiresAt))
		usable = usable && valid
		expiries = append(expiries, key.expiresAt)
		if !valid {
			setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
				"suspended, and no valid accesskey is stored", d.now)
		}
	}
	if !usable {
		setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
			"suspended: no API calls are made, and a stored credential has expired or is missing", d.now)
		return time.Time{}
	}
	next := earliest(expiries...)
	msg := "suspended: no API calls are made; the stored credentials stay usable"
	if !next.IsZero() {
		msg += " until " + timestamp(next)
		next = next.Add(expiryMargin)
	}
	setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended, msg, d.now)
	return next
}
