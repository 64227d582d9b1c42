// Package k8scheck holds the test that decodes procman's Kubernetes export
// strictly into the upstream API types (k8s.io/api). It is a module of its
// own so that those large dependencies stay out of procman's go.mod and
// binary; it has no code besides the test.
package k8scheck
