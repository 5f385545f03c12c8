// Package voipbin is the operator's client for the VoIPBIN API: it logs in
// (username and password for a JWT) and validates accesskeys.
//
// It knows HTTP and JSON and nothing of Kubernetes. Every failure is returned
// as a typed error that KindOf sorts into a few kinds the controller maps to
// condition reasons; callers never match error strings.
//
// Secrets stay secret: no password, token or accesskey ever appears in an
// error string, and a Token prints itself redacted. The stand-in in package
// voipbintest behaves like the real server, quirks included, for tests.
package voipbin
