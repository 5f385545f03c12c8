package controller

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
)

// inputs is what the input Secrets hold: what a decision needs (plan.Inputs),
// and what only a call needs and the decision never sees (the password, the CA).
type inputs struct {
	plan.Inputs
	Password           string
	CAPEM              []byte
	InsecureSkipVerify bool
}

// readInputs reads the Secrets vbc references with the API reader (the client
// never caches Secrets). A missing Secret or key is an input error of its part;
// any other read failure is returned.
func readInputs(ctx context.Context, reader client.Reader, vbc *v1alpha1.VoipbinCredential) (inputs, error) {
	var in inputs
	var err error
	if err = readEndpoint(ctx, reader, vbc, &in); err != nil {
		return in, err
	}
	if l := vbc.Spec.Login; l != nil {
		userKey, passKey := keyOrDefault(l.SecretRef.UsernameKey, "username"), keyOrDefault(l.SecretRef.PasswordKey, "password")
		values, version, inErr, err := readSecretKeys(ctx, reader, vbc.Namespace, l.SecretRef.Name, userKey, passKey)
		if err != nil {
			return in, err
		}
		in.LoginErr = inErr
		if inErr == nil {
			// A username never holds whitespace; a trailing newline from a file is
			// trimmed. The password is used exactly as stored.
			in.Login = &plan.LoginInput{Username: strings.TrimSpace(values[userKey]), Version: version}
			in.Password = values[passKey]
		}
	}
	if a := vbc.Spec.AccessKey; a != nil && a.SecretRef != nil {
		key := keyOrDefault(a.SecretRef.Key, "accesskey")
		values, version, inErr, err := readSecretKeys(ctx, reader, vbc.Namespace, a.SecretRef.Name, key)
		if err != nil {
			return in, err
		}
		in.AccessKeyErr = inErr
		if inErr == nil {
			// An accesskey never holds whitespace; a trailing newline is trimmed.
			in.AccessKey = &plan.AccessKeyInput{Key: strings.TrimSpace(values[key]), Version: version}
		}
	}
	return in, nil
}

// readEndpoint fills in where and how the API is reached: the normalised apiURL
// (requests go there; the allow-list is matched against it), the TLS settings,
// and their hash.
func readEndpoint(ctx context.Context, reader client.Reader, vbc *v1alpha1.VoipbinCredential, in *inputs) error {
	url, err := plan.NormalizeAPIURL(apiURLOf(vbc))
	if err != nil {
		url = strings.TrimSuffix(apiURLOf(vbc), "/") // refused by the allow-list before any use
	}
	caVersion := ""
	if t := vbc.Spec.TLS; t != nil {
		in.InsecureSkipVerify = t.InsecureSkipVerify
		if ref := t.CASecretRef; ref != nil {
			key := keyOrDefault(ref.Key, "ca.crt")
			values, version, inErr, err := readSecretKeys(ctx, reader, vbc.Namespace, ref.Name, key)
			if err != nil {
				return err
			}
			if inErr == nil && !holdsCertificate([]byte(values[key])) {
				inErr = &plan.InputError{Reason: v1alpha1.ReasonTLSError,
					Message: fmt.Sprintf("Secret %q key %q holds no PEM certificate", ref.Name, key)}
			}
			in.EndpointErr = inErr
			in.CAPEM = []byte(values[key])
			caVersion = ref.Name + "/" + key + "/" + version
		}
	}
	sum := sha256.Sum256([]byte(url + "\n" + strconv.FormatBool(in.InsecureSkipVerify) + "\n" + caVersion))
	in.Endpoint = plan.Endpoint{URL: url, Hash: hex.EncodeToString(sum[:8])}
	return nil
}

// holdsCertificate reports whether b holds at least one PEM certificate that parses.
func holdsCertificate(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err == nil {
				return true
			}
		}
	}
}

// readSecretKeys reads keys of the Secret name, each of which must be present and
// non-empty, and returns their values and the Secret's version.
func readSecretKeys(ctx context.Context, reader client.Reader, namespace, name string, keys ...string) (
	map[string]string, string, *plan.InputError, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", &plan.InputError{Reason: v1alpha1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %q not found", name)}, nil
		}
		return nil, "", nil, fmt.Errorf("reading Secret %q: %w", name, err)
	}
	values := make(map[string]string, len(keys))
	for _, k := range keys {
		v := secret.Data[k]
		if len(strings.TrimSpace(string(v))) == 0 {
			return nil, "", &plan.InputError{Reason: v1alpha1.ReasonSecretKeyMissing,
				Message: fmt.Sprintf("Secret %q has no key %q, or it is empty", name, k)}, nil
		}
		values[k] = string(v)
	}
	return values, secretVersion(secret), nil, nil
}

// secretVersion identifies one version of one Secret: <uid>/<resourceVersion>. A
// Secret deleted and created again has another UID.
func secretVersion(s *corev1.Secret) string {
	return string(s.UID) + "/" + s.ResourceVersion
}

func keyOrDefault(key, def string) string {
	if key == "" {
		return def
	}
	return key
}

func apiURLOf(vbc *v1alpha1.VoipbinCredential) string {
	if vbc.Spec.APIURL == "" {
		return v1alpha1.DefaultAPIURL
	}
	return vbc.Spec.APIURL
}

// inputSecretNames returns the names of the Secrets vbc reads: the keys of the
// index that maps a changed Secret to the VoipbinCredentials that use it.
func inputSecretNames(vbc *v1alpha1.VoipbinCredential) []string {
	var names []string
	if l := vbc.Spec.Login; l != nil {
		names = append(names, l.SecretRef.Name)
	}
	if a := vbc.Spec.AccessKey; a != nil && a.SecretRef != nil {
		names = append(names, a.SecretRef.Name)
	}
	if t := vbc.Spec.TLS; t != nil && t.CASecretRef != nil {
		names = append(names, t.CASecretRef.Name)
	}
	return names
}
