// Package version holds the operator's version, stamped at build time with
// -ldflags "-X github.com/voipbin/credential-operator/internal/version.Version=...".
package version

// Version is the operator's version; "dev" for builds without the Makefile's flags.
var Version = "dev"
