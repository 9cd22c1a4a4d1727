//go:build tools

// Package tools pins the CNCF distribution registry (an OCI registry: Lab 2 pushes and pulls charts).
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
