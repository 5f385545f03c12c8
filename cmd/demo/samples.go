package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The CRD's defaults for the keys of the input Secrets (the +kubebuilder:default
// markers of LoginSecretRef and AccessKeySecretRef): the samples may leave them out.
const (
	defaultUsernameKey  = "username"
	defaultPasswordKey  = "password"
	defaultAccessKeyKey = "accesskey"
)

// agentLogin is a username and password the stand-in must accept.
type agentLogin struct {
	username, password string
}

// sampleSet is what config/samples holds: the input Secrets, the
// VoipbinCredentials, and what the stand-in needs to accept their credentials.
type sampleSet struct {
	secrets     []*corev1.Secret
	credentials []*v1alpha1.VoipbinCredential
	// skipped are the other objects ("Kind/name"), which the demo does not create.
	skipped []string
	agents  []agentLogin
	keys    []string
}

// kustomization is the part of config/samples/kustomization.yaml the demo
// understands: a list of files.
type kustomization struct {
	APIVersion string   `json:"apiVersion,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	Resources  []string `json:"resources"`
}

// loadSamples reads the files listed by dir/kustomization.yaml (and, for a
// listed folder, by its own kustomization.yaml). A kustomization may only list
// resources: anything else (a name prefix, patches) would make the demo apply
// something other than what `kustomize build` renders, so it is refused
// rather than ignored.
func loadSamples(scheme *runtime.Scheme, dir string) (*sampleSet, error) {
	set := &sampleSet{}
	if err := set.readKustomization(serializer.NewCodecFactory(scheme).UniversalDeserializer(), dir); err != nil {
		return nil, err
	}
	if len(set.credentials) == 0 {
		return nil, fmt.Errorf("%s holds no VoipbinCredential", dir)
	}
	if err := set.collectInputs(); err != nil {
		return nil, err
	}
	return set, nil
}

func (s *sampleSet) readKustomization(decoder runtime.Decoder, dir string) error {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var k kustomization
	if err := utilyaml.UnmarshalStrict(data, &k); err != nil {
		return fmt.Errorf("%s: the demo reads a plain list of resources only: %w", path, err)
	}
	for _, resource := range k.Resources {
		resource = filepath.Join(dir, resource)
		info, err := os.Stat(resource)
		if err != nil {
			return err
		}
		if info.IsDir() {
			err = s.readKustomization(decoder, resource)
		} else {
			err = s.readFile(decoder, resource)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *sampleSet) readFile(decoder runtime.Decoder, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch o := obj.(type) {
		case *corev1.Secret:
			s.secrets = append(s.secrets, o)
		case *v1alpha1.VoipbinCredential:
			s.credentials = append(s.credentials, o)
		default:
			name := ""
			if named, ok := obj.(client.Object); ok {
				name = named.GetName()
			}
			s.skipped = append(s.skipped, gvk.Kind+"/"+name)
		}
	}
}

// collectInputs finds, in the sample Secrets, the usernames, passwords and
// accesskeys the VoipbinCredentials refer to, so that the stand-in accepts them.
func (s *sampleSet) collectInputs() error {
	for _, vbc := range s.credentials {
		if l := vbc.Spec.Login; l != nil {
			username, err := s.value(vbc.Name, l.SecretRef.Name, orDefault(l.SecretRef.UsernameKey, defaultUsernameKey))
			if err != nil {
				return err
			}
			password, err := s.value(vbc.Name, l.SecretRef.Name, orDefault(l.SecretRef.PasswordKey, defaultPasswordKey))
			if err != nil {
				return err
			}
			login := agentLogin{username: username, password: password}
			if !slices.Contains(s.agents, login) {
				s.agents = append(s.agents, login)
			}
		}
		if a := vbc.Spec.AccessKey; a != nil && a.SecretRef != nil {
			key, err := s.value(vbc.Name, a.SecretRef.Name, orDefault(a.SecretRef.Key, defaultAccessKeyKey))
			if err != nil {
				return err
			}
			if !slices.Contains(s.keys, key) {
				s.keys = append(s.keys, key)
			}
		}
	}
	return nil
}

// value returns one key of a sample Secret. Errors name the key, never a value.
func (s *sampleSet) value(credential, secret, key string) (string, error) {
	for _, sec := range s.secrets {
		if sec.Name != secret {
			continue
		}
		if v, ok := sec.StringData[key]; ok && v != "" {
			return v, nil
		}
		if v, ok := sec.Data[key]; ok && len(v) > 0 {
			return string(v), nil
		}
		return "", fmt.Errorf("VoipbinCredential %s: the sample Secret %s has no key %q", credential, secret, key)
	}
	return "", fmt.Errorf("VoipbinCredential %s refers to the Secret %s, which is not among the samples", credential, secret)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// usernames returns the usernames the stand-in accepts, sorted.
func (s *sampleSet) usernames() []string {
	return sortedNames(s.agents, func(a agentLogin) string { return a.username })
}

// accessKeys returns the accesskeys the stand-in accepts.
func (s *sampleSet) accessKeys() []string { return s.keys }

// credentialNames returns the names of the sample VoipbinCredentials, sorted.
func (s *sampleSet) credentialNames() []string {
	return sortedNames(s.credentials, func(vbc *v1alpha1.VoipbinCredential) string { return vbc.Name })
}

// sortedNames returns the name of every item, sorted.
func sortedNames[T any](items []T, name func(T) string) []string {
	names := make([]string, 0, len(items))
	for _, item := range items {
		names = append(names, name(item))
	}
	sort.Strings(names)
	return names
}

// apply creates the sample Secrets, then the VoipbinCredentials with their
// apiURL pointed at the stand-in (the samples keep the default public API),
// in namespace, and returns "Kind/name" of each.
func (s *sampleSet) apply(ctx context.Context, c client.Client, namespace, apiURL string) ([]string, error) {
	applied := make([]string, 0, len(s.secrets)+len(s.credentials))
	for _, sample := range s.secrets {
		sec := sample.DeepCopy()
		sec.Namespace = namespace
		if err := c.Create(ctx, sec); err != nil {
			return applied, fmt.Errorf("creating Secret %s: %w", sec.Name, err)
		}
		applied = append(applied, "Secret/"+sec.Name)
	}
	for _, sample := range s.credentials {
		vbc := sample.DeepCopy()
		vbc.Namespace = namespace
		vbc.Spec.APIURL = apiURL
		if err := c.Create(ctx, vbc); err != nil {
			return applied, fmt.Errorf("creating VoipbinCredential %s: %w", vbc.Name, err)
		}
		applied = append(applied, "VoipbinCredential/"+vbc.Name)
	}
	return applied, nil
}
