package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/upisim/upisim/gen/openapi"
)

// APIVersion is the version every node's OpenAPI document gives its API.
const APIVersion = "1.0.0"

// The services a node may serve over REST, as the OpenAPI documents tag
// their operations, and the security each asks for.
var serviceSecurity = map[string]string{
	"AdminService":         "adminToken",
	"MerchantAdminService": "adminToken",
	"MerchantService":      "merchantKey",
	"TpapAppService":       "", // the app API: no auth scheme (a local simulator's)
	"PspAppService":        "",
}

// Document is the OpenAPI (Swagger 2.0) document of node name, of role,
// serving the REST services named (their tags: "AdminService",
// "TpapAppService", ...): only their paths, the definitions those use, a
// title and version, and the security of each operation (the admin token,
// a merchant's API key, or none).
func Document(name, role string, services []string) ([]byte, error) {
	type doc struct {
		Tags        []map[string]any          `json:"tags"`
		Paths       map[string]map[string]any `json:"paths"`
		Definitions map[string]any            `json:"definitions"`
	}
	paths := map[string]map[string]any{}
	defs := map[string]any{}
	var tags []map[string]any
	for _, raw := range [][]byte{openapi.JSON, openapi.MerchantJSON} {
		var d doc
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		maps.Copy(defs, d.Definitions)
		for _, t := range d.Tags {
			if slices.Contains(services, fmt.Sprint(t["name"])) {
				tags = append(tags, t)
			}
		}
		for p, ops := range d.Paths {
			for method, op := range ops {
				o, _ := op.(map[string]any)
				tag := firstTag(o)
				if !slices.Contains(services, tag) {
					continue
				}
				sec, ok := serviceSecurity[tag]
				if !ok {
					return nil, fmt.Errorf("openapi: no security known for service %s", tag)
				}
				o["security"] = []any{}
				if sec != "" {
					o["security"] = []any{map[string]any{sec: []any{}}}
				}
				addErrorResponses(o, sec != "", strings.Contains(p, "{"))
				if paths[p] == nil {
					paths[p] = map[string]any{}
				}
				paths[p][method] = o
			}
		}
	}
	used := map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if ref, ok := e.(string); ok && k == "$ref" {
					n := strings.TrimPrefix(ref, "#/definitions/")
					if _, seen := used[n]; !seen && defs[n] != nil {
						used[n] = defs[n]
						walk(defs[n])
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, ops := range paths {
		walk(ops)
	}
	secDefs := map[string]any{}
	for _, svc := range services {
		switch serviceSecurity[svc] {
		case "adminToken":
			secDefs["adminToken"] = map[string]any{
				"type": "apiKey", "in": "header", "name": "Authorization",
				"description": "`Bearer TOKEN`, the token `upisim up` wrote to DATA/admin.token.",
			}
		case "merchantKey":
			secDefs["merchantKey"] = map[string]any{
				"type": "apiKey", "in": "header", "name": "Authorization",
				"description": "`Bearer API_KEY`, the merchant's API key from the network file (`upisim merchant show`).",
			}
		}
	}
	out := map[string]any{
		"swagger": "2.0",
		"info": map[string]any{
			"title":   fmt.Sprintf("upisim %s node %s", role, name),
			"version": APIVersion,
			"description": fmt.Sprintf("The REST API node %s (a %s) serves on its HTTP port: %s. "+
				"JSON field names are the proto names; int64 fields are strings. Errors are {code, message, details} "+
				"with the gRPC code. docs/FLOWS.md in the upisim repository describes every flow.", name, role, strings.Join(services, ", ")),
		},
		"consumes":            []string{"application/json"},
		"produces":            []string{"application/json"},
		"tags":                tags,
		"paths":               paths,
		"securityDefinitions": secDefs,
		"definitions":         used,
	}
	return json.MarshalIndent(out, "", "  ")
}

func firstTag(op map[string]any) string {
	if ts, ok := op["tags"].([]any); ok && len(ts) > 0 {
		return fmt.Sprint(ts[0])
	}
	return ""
}

// addErrorResponses documents the 4xx answers every operation may give
// (the gateway's: InvalidArgument 400, Unauthenticated 401, NotFound 404,
// FailedPrecondition or AlreadyExists 409, ResourceExhausted 429), each a
// google.rpc.Status.
func addErrorResponses(op map[string]any, secured, hasPathParams bool) {
	rs, _ := op["responses"].(map[string]any)
	if rs == nil {
		return
	}
	status := map[string]any{"$ref": "#/definitions/googleRpcStatus"}
	add := func(code, desc string) {
		if _, ok := rs[code]; !ok {
			rs[code] = map[string]any{"description": desc, "schema": status}
		}
	}
	add("400", "The request is malformed or invalid (gRPC code 3, INVALID_ARGUMENT); the message names the field.")
	if secured {
		add("401", "The Authorization header is missing or wrong (gRPC code 16, UNAUTHENTICATED).")
	}
	if hasPathParams {
		add("404", "Nothing with that id here (gRPC code 5, NOT_FOUND).")
	}
	add("409", "The request does not fit the state of what it names, or repeats an Idempotency-Key with another body (gRPC codes 9, 6).")
	add("429", "The node is busy: try again after Retry-After (gRPC code 8, RESOURCE_EXHAUSTED).")
}
