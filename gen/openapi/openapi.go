// Package openapi holds the OpenAPI document generated from proto/upi/v1
// (upisim.swagger.json, by protoc-gen-openapiv2), embedded so every node can
// serve it at /openapi.json. Only this file is written by hand; `make gen`
// keeps it.
package openapi

import _ "embed"

// JSON is the merged OpenAPI v2 document of every app-facing service.
//
//go:embed upisim.swagger.json
var JSON []byte

// MerchantJSON is the OpenAPI v2 document of the merchant API
// (proto/upisim/merchant), which PSP nodes serve at /merchant/openapi.json.
//
//go:embed merchant.swagger.json
var MerchantJSON []byte
