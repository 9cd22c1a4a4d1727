//go:build tools

// Package tools pins Kueue's manager (cmd/kueue): job queueing and quota admission, run by kubelab as a
// host process of the embedded cluster (src/kubelab/cluster/kueue.py).
package tools

import _ "sigs.k8s.io/kueue/cmd/kueue"
