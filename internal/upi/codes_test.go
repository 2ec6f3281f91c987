package upi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// declaredCodes is every Code* constant of codes.go, name → value.
func declaredCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, parser.ParseComments)
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Code") {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok, "%s is not a string literal", n.Name)
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				assert.NotEmpty(t, vs.Doc.Text(), "%s has no doc comment", n.Name)
				out[n.Name] = v
			}
		}
	}
	return out
}

// flowsCodes is the first column of docs/FLOWS.md's "Error codes used"
// table.
func flowsCodes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/FLOWS.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(b), "## Error codes used\n")
	require.True(t, ok, "docs/FLOWS.md has no \"## Error codes used\" section")
	if i := strings.Index(table, "\n## "); i >= 0 {
		table = table[:i]
	}
	row := regexp.MustCompile(`(?m)^\| ([0-9A-Z]{2,3}) \|`)
	var out []string
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out, "no code rows in docs/FLOWS.md's table")
	return out
}

// TestCodesMatchFlows keeps the package and docs/FLOWS.md's code table
// the same: every code constant is in Codes and in the table, and every
// code of the table is a constant.
func TestCodesMatchFlows(t *testing.T) {
	declared := declaredCodes(t)
	var values []string
	for _, v := range declared {
		values = append(values, v)
	}
	assert.ElementsMatch(t, values, Codes, "Codes lists every Code constant of codes.go once")
	assert.ElementsMatch(t, Codes, flowsCodes(t), "docs/FLOWS.md's \"Error codes used\" table lists exactly the package's codes")
}
