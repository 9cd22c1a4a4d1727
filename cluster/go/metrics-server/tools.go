//go:build tools

// Package tools pins metrics-server (serves metrics.k8s.io from kwok's simulated usage).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
