package plan

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"text/template"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// templateValues are the only values a template of spec.secretTemplate.data can
// name. A value whose credential is not stored renders empty.
type templateValues struct {
	Token, ExpiresAt, AccessKey, APIURL string
}

// maxRenderedSize bounds one rendered key: a template such as {{ range 1000000000 }}
// must not fill the operator's memory (a Secret holds at most 1 MiB anyway).
const maxRenderedSize = 64 << 10

// templateError is a template that cannot be used. Its message names the key
// and the kind of problem only: never the template's output, which holds the
// credential, nor the error text of text/template, which may quote it.
type templateError struct {
	key, problem string
}

func (e *templateError) message() string {
	return "secretTemplate.data[\"" + e.key + "\"]: " + e.problem +
		"; the managed Secret is left as it was (the values are .Token, .ExpiresAt, .AccessKey and .APIURL)"
}

// templateKeys are the keys of spec.secretTemplate.data, sorted.
func templateKeys(vbc *v1alpha1.VoipbinCredential) []string {
	if t := vbc.Spec.SecretTemplate; t != nil {
		return slices.Sorted(maps.Keys(t.Data))
	}
	return nil
}

// checkTemplates parses every template and renders it over stand-in values, so
// that a template that cannot work whatever the values (it does not parse,
// names an unknown value) is reported even when nothing is to be written. A
// failure that depends on the values ({{ slice .Token 0 10 }} over a short
// stand-in) is left to the real rendering.
func checkTemplates(vbc *v1alpha1.VoipbinCredential) *templateError {
	_, err := renderTemplates(vbc, map[string][]byte{
		v1alpha1.SecretKeyToken: []byte("t"), v1alpha1.SecretKeyExpiresAt: []byte("e"),
		v1alpha1.SecretKeyAccessKey: []byte("k"), v1alpha1.SecretKeyAPIURL: []byte("u"),
	})
	if err != nil && err.problem == problemCannotRender {
		return nil
	}
	return err
}

const problemCannotRender = "the template cannot be rendered"

// renderTemplates renders spec.secretTemplate.data over the built-in keys of
// data: text/template with missingkey=error, no functions beyond the built-in
// ones, over a fixed struct. It returns the rendered keys, or the first key
// (in order) that failed.
func renderTemplates(vbc *v1alpha1.VoipbinCredential, data map[string][]byte) (map[string][]byte, *templateError) {
	keys := templateKeys(vbc)
	if len(keys) == 0 {
		return nil, nil
	}
	values := templateValues{
		Token:     string(data[v1alpha1.SecretKeyToken]),
		ExpiresAt: string(data[v1alpha1.SecretKeyExpiresAt]),
		AccessKey: string(data[v1alpha1.SecretKeyAccessKey]),
		APIURL:    string(data[v1alpha1.SecretKeyAPIURL]),
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		t, err := template.New(k).Option("missingkey=error").Parse(vbc.Spec.SecretTemplate.Data[k])
		if err != nil {
			return nil, &templateError{key: k, problem: "the template does not parse"}
		}
		w := &limitedBuffer{}
		if err := t.Execute(w, values); err != nil {
			switch {
			case errors.Is(err, errTooLarge):
				return nil, &templateError{key: k, problem: "the rendered value is larger than 64 KiB"}
			case strings.Contains(err.Error(), "can't evaluate field"):
				return nil, &templateError{key: k, problem: "the template names an unknown value"}
			default:
				return nil, &templateError{key: k, problem: problemCannotRender}
			}
		}
		out[k] = w.Bytes()
	}
	return out, nil
}

// renderedCurrent reports whether the managed Secret's templated keys are those
// rendered from its own built-in keys (true without templates).
func (d *decision) renderedCurrent() bool {
	s := d.o.Secret
	if s != nil && omittedForm(d.raw) != omitting(d.vbc) {
		return false // the built-in keys are still to be written out, or left out
	}
	if len(templateKeys(d.vbc)) == 0 {
		return true
	}
	if s == nil {
		return false
	}
	if omitting(d.vbc) {
		return d.renderedFor(fingerprinted(s.Data))
	}
	want, err := renderTemplates(d.vbc, s.Data)
	if err != nil {
		return false
	}
	for k, v := range want {
		if have, ok := s.Data[k]; !ok || !bytes.Equal(have, v) {
			return false
		}
	}
	return true
}

var errTooLarge = errors.New("rendered value too large")

// limitedBuffer refuses to grow beyond maxRenderedSize.
type limitedBuffer struct {
	bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRenderedSize {
		return 0, errTooLarge
	}
	return b.Buffer.Write(p)
}
