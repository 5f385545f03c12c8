package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// inputError is an input Secret that cannot be used: SecretNotFound or
// SecretKeyMissing. Only a change of the Secret can fix it.
type inputError struct {
	Reason  string
	Message string
}

// loginInput is the username and password of spec.login.
type loginInput struct {
	Username, Password string
	// Version is the login Secret's <uid>/<resourceVersion>.
	Version string
}

// accessKeyInput is the accesskey of spec.accessKey.
type accessKeyInput struct {
	Key string
	// Version is the accesskey Secret's <uid>/<resourceVersion>.
	Version string
}

// endpoint is where and how the API is reached.
type endpoint struct {
	URL                string
	InsecureSkipVerify bool
	CAPEM              []byte
	// Hash identifies URL and TLS settings, including the CA Secret's version:
	// status.*.endpointHash. It is derived from no secret.
	Hash string
}

// inputs is everything read from the input Secrets for one reconcile. Secrets are
// read with the API reader: the client never caches Secrets.
type inputs struct {
	Endpoint    endpoint
	EndpointErr *inputError

	Login    *loginInput
	LoginErr *inputError

	AccessKey    *accessKeyInput
	AccessKeyErr *inputError
}

// readInputs reads the Secrets vbc references. A missing Secret or key is an
// inputError of its part; any other read failure is returned.
func readInputs(ctx context.Context, reader client.Reader, vbc *v1alpha1.VoipbinCredential) (inputs, error) {
	var in inputs
	var err error
	in.Endpoint, in.EndpointErr, err = readEndpoint(ctx, reader, vbc)
	if err != nil {
		return in, err
	}
	if l := vbc.Spec.Login; l != nil {
		ref := l.SecretRef
		var values map[string]string
		var version string
		values, version, in.LoginErr, err = readSecretKeys(ctx, reader, vbc.Namespace, ref.Name,
			keyOrDefault(ref.UsernameKey, "username"), keyOrDefault(ref.PasswordKey, "password"))
		if err != nil {
			return in, err
		}
		if in.LoginErr == nil {
			in.Login = &loginInput{
				// A username never holds whitespace; a trailing newline from a file is
				// trimmed. The password is used exactly as stored.
				Username: strings.TrimSpace(values[keyOrDefault(ref.UsernameKey, "username")]),
				Password: values[keyOrDefault(ref.PasswordKey, "password")],
				Version:  version,
			}
		}
	}
	if a := vbc.Spec.AccessKey; a != nil {
		key := keyOrDefault(a.SecretRef.Key, "accesskey")
		var values map[string]string
		var version string
		values, version, in.AccessKeyErr, err = readSecretKeys(ctx, reader, vbc.Namespace, a.SecretRef.Name, key)
		if err != nil {
			return in, err
		}
		if in.AccessKeyErr == nil {
			// An accesskey never holds whitespace; a trailing newline is trimmed.
			in.AccessKey = &accessKeyInput{Key: strings.TrimSpace(values[key]), Version: version}
		}
	}
	return in, nil
}

func readEndpoint(ctx context.Context, reader client.Reader, vbc *v1alpha1.VoipbinCredential) (endpoint, *inputError, error) {
	ep := endpoint{URL: strings.TrimSuffix(apiURLOf(vbc), "/")}
	caVersion := ""
	if t := vbc.Spec.TLS; t != nil {
		ep.InsecureSkipVerify = t.InsecureSkipVerify
		if ref := t.CASecretRef; ref != nil {
			key := keyOrDefault(ref.Key, "ca.crt")
			values, version, inErr, err := readSecretKeys(ctx, reader, vbc.Namespace, ref.Name, key)
			if err != nil || inErr != nil {
				return ep, inErr, err
			}
			ep.CAPEM = []byte(values[key])
			caVersion = ref.Name + "/" + key + "/" + version
		}
	}
	sum := sha256.Sum256([]byte(ep.URL + "\n" + strconv.FormatBool(ep.InsecureSkipVerify) + "\n" + caVersion))
	ep.Hash = hex.EncodeToString(sum[:8])
	return ep, nil, nil
}

// readSecretKeys reads keys of the Secret name, each of which must be present and
// non-empty, and returns their values and the Secret's version.
func readSecretKeys(ctx context.Context, reader client.Reader, namespace, name string, keys ...string) (
	map[string]string, string, *inputError, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", &inputError{Reason: v1alpha1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %q not found", name)}, nil
		}
		return nil, "", nil, fmt.Errorf("reading Secret %q: %w", name, err)
	}
	values := make(map[string]string, len(keys))
	for _, k := range keys {
		v := secret.Data[k]
		if len(strings.TrimSpace(string(v))) == 0 {
			return nil, "", &inputError{Reason: v1alpha1.ReasonSecretKeyMissing,
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
	if a := vbc.Spec.AccessKey; a != nil {
		names = append(names, a.SecretRef.Name)
	}
	if t := vbc.Spec.TLS; t != nil && t.CASecretRef != nil {
		names = append(names, t.CASecretRef.Name)
	}
	return names
}
