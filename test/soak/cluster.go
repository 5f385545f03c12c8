package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/test/harness"
)

// Namespaces of the soak: the VoipbinCredentials and their Secrets, and the
// managers' leader-election Lease (as a Deployment would keep it in its own).
const (
	crNamespace    = "soak"
	leaseNamespace = "soak-system"
	// adminFieldManager is the field manager of the soak's hand edits.
	adminFieldManager = "soak-admin"
)

// cluster is the local control plane (test/harness: the envtest kube-apiserver
// and etcd with the CRDs, a kubeconfig for the managers) and the soak's clients.
type cluster struct {
	cp         *harness.ControlPlane
	c          client.Client
	cs         kubernetes.Interface
	kubeconfig string
}

// startCluster starts the control plane with the CRDs of root, writes a
// cluster-admin kubeconfig into dir and creates the soak's namespaces. Call
// stop when done, also on error.
func startCluster(root, dir string) (*cluster, error) {
	cp, err := harness.StartControlPlane(harness.ControlPlaneOptions{Dir: dir, Root: root,
		// The soak's own clients are fast: the control plane is local and the
		// soak lists and watches a few hundred objects every second.
		QPS: 200, Burst: 400})
	if err != nil {
		return nil, err
	}
	k := &cluster{cp: cp, c: cp.Client, cs: cp.Clientset, kubeconfig: cp.Kubeconfig}
	ctx := context.Background()
	for _, ns := range []string{crNamespace, leaseNamespace} {
		if err := k.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return k, err
		}
	}
	return k, nil
}

func (k *cluster) stop() error {
	if k == nil {
		return nil
	}
	return k.cp.Stop()
}

// issuedKeyLifetime is the lifetime the CRs with issued keys ask for: the
// shortest VoIPBIN allows (the stand-in compresses its day, see KeyDay).
const issuedKeyLifetime = 24 * time.Hour

// createCredential creates the input Secrets and the VoipbinCredential of cr;
// a CR with issued keys gets revokeAfter.
func (k *cluster) createCredential(ctx context.Context, cr *crInfo, apiURL string, revokeAfter time.Duration) error {
	login := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: cr.LoginSecret, Namespace: crNamespace},
		Data:       map[string][]byte{"username": []byte(cr.Username), "password": []byte(cr.password())},
	}
	if err := k.c.Create(ctx, login); err != nil {
		return fmt.Errorf("creating Secret %s: %w", cr.LoginSecret, err)
	}
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: cr.Name, Namespace: crNamespace},
		Spec: v1alpha1.VoipbinCredentialSpec{
			APIURL:     apiURL,
			SecretName: cr.ManagedSecret,
			Login:      &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: cr.LoginSecret}},
		},
	}
	if cr.AccessKey != "" {
		key := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: cr.KeySecret, Namespace: crNamespace},
			Data:       map[string][]byte{"accesskey": []byte(cr.AccessKey)},
		}
		if err := k.c.Create(ctx, key); err != nil {
			return fmt.Errorf("creating Secret %s: %w", cr.KeySecret, err)
		}
		vbc.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: cr.KeySecret}}
		// The shortest interval the API allows, so that keys are re-checked
		// (and meet faults) during the soak.
		vbc.Spec.AccessKeyCheckInterval = &metav1.Duration{Duration: time.Minute}
	}
	if cr.Issue {
		// deletionPolicy stays its default, Delete: the finalizer deletes the keys.
		vbc.Spec.AccessKey = &v1alpha1.AccessKeySpec{Issue: &v1alpha1.AccessKeyIssueSpec{
			Lifetime:    &metav1.Duration{Duration: issuedKeyLifetime},
			RevokeAfter: &metav1.Duration{Duration: revokeAfter},
		}}
	}
	if err := k.c.Create(ctx, vbc); err != nil {
		return fmt.Errorf("creating VoipbinCredential %s: %w", cr.Name, err)
	}
	return nil
}

// deleteCredential deletes the VoipbinCredential of cr, then (as the garbage
// collector would: envtest runs no kube-controller-manager) its managed Secret,
// and its input Secrets.
func (k *cluster) deleteCredential(ctx context.Context, cr *crInfo) error {
	vbc := &v1alpha1.VoipbinCredential{ObjectMeta: metav1.ObjectMeta{Name: cr.Name, Namespace: crNamespace}}
	if err := client.IgnoreNotFound(k.c.Delete(ctx, vbc)); err != nil {
		return err
	}
	// A reconcile that read the CR just before the delete may still apply the
	// Secret: let it finish, then collect.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
	}
	return k.deleteSecrets(ctx, cr)
}

// deleteSecrets deletes cr's managed Secret and its input Secrets.
func (k *cluster) deleteSecrets(ctx context.Context, cr *crInfo) error {
	for _, name := range []string{cr.ManagedSecret, cr.LoginSecret, cr.KeySecret} {
		if name == "" {
			continue
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: crNamespace}}
		if err := client.IgnoreNotFound(k.c.Delete(ctx, s)); err != nil {
			return err
		}
	}
	return nil
}

// finalizeBound is how long the soak waits for a deleted CR with issued keys
// to be released by its finalizer: the operator's hold (10 minutes), and more.
const finalizeBound = 11 * time.Minute

// deleteHeld deletes the VoipbinCredential of cr, which carries the
// finalizer, and returns at once; in the background it waits until the
// finalizer releases the CR (then calls gone), and only then deletes its
// Secrets: the garbage collector deletes the managed Secret once its owner is
// gone, and the login Secret is the token the finalizer may need to delete
// the keys (with the soak's 30-second tokens the stored one may have expired
// meanwhile). wg tracks the background part.
func (k *cluster) deleteHeld(ctx context.Context, cr *crInfo, wg *sync.WaitGroup, gone func(time.Time)) error {
	vbc := &v1alpha1.VoipbinCredential{ObjectMeta: metav1.ObjectMeta{Name: cr.Name, Namespace: crNamespace}}
	if err := client.IgnoreNotFound(k.c.Delete(ctx, vbc)); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(finalizeBound)
		for time.Now().Before(deadline) {
			err := k.c.Get(ctx, client.ObjectKeyFromObject(vbc), &v1alpha1.VoipbinCredential{})
			if apierrors.IsNotFound(err) {
				gone(time.Now())
				_ = k.deleteSecrets(ctx, cr)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return nil
}

// setLoginPassword writes a new password into cr's login Secret.
func (k *cluster) setLoginPassword(ctx context.Context, cr *crInfo, password string) error {
	return k.updateSecret(ctx, cr.LoginSecret, func(s *corev1.Secret) bool {
		s.Data["password"] = []byte(password)
		return true
	})
}

// updateSecret applies mutate to the current version of a Secret, retrying
// on conflicts; mutate returns false to write nothing. A missing Secret is
// apierrors.IsNotFound.
func (k *cluster) updateSecret(ctx context.Context, name string, mutate func(*corev1.Secret) bool) error {
	for {
		s := &corev1.Secret{}
		if err := k.c.Get(ctx, client.ObjectKey{Namespace: crNamespace, Name: name}, s); err != nil {
			return err
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		if !mutate(s) {
			return nil
		}
		err := k.c.Update(ctx, s, client.FieldOwner(adminFieldManager))
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}
