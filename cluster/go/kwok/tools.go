//go:build tools

// Package tools pins kwok (simulated nodes) and kwokctl (cluster runner).
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
