//go:build tools

// Package tools pins kubeconform (offline schema validation of manifests).
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
