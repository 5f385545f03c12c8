package controller

// The manager's permissions, exactly what the reconciler uses (config/rbac/role.yaml is
// generated from these markers by make manifests):
//   - VoipbinCredentials: read and watch them, patch them (only to add or remove the finalizer that
//     deletes issued accesskeys), patch their status (never update it), and update their
//     finalizers subresource, which the API server requires for an owner reference
//     with blockOwnerDeletion on the managed Secret.
//   - Secrets: read input Secrets, watch (metadata of) them, and create and patch
//     (server-side apply) managed Secrets. Never delete: the garbage collector does.
//   - Events: record them on VoipbinCredentials.

// +kubebuilder:rbac:groups=credentials.voipbin.net,resources=voipbincredentials,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=credentials.voipbin.net,resources=voipbincredentials/status,verbs=patch
// +kubebuilder:rbac:groups=credentials.voipbin.net,resources=voipbincredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
