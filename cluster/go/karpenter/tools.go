//go:build tools

// Package tools pins Karpenter's KWOK cloud provider (the operator in sigs.k8s.io/karpenter/kwok): it provisions and
// consolidates simulated nodes for the embedded cluster.
package tools

import _ "sigs.k8s.io/karpenter/kwok"
