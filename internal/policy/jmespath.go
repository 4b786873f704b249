package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// Bounds on JMESPath queries. A query runs inside the JMESPath library, where
// neither ctx nor Limits.MaxSteps can stop it, so what a query can do is
// bounded before it runs: its shape (growth), and the functions that could
// build large strings from small inputs.
const (
	// maxQueryGrowth bounds how many times larger than its input a query's
	// result (and any intermediate value) can be, counting shared
	// sub-values once per use: [@,@] doubles, and nesting it k deep would
	// otherwise grow 2^k.
	maxQueryGrowth = 256
	// maxJMESPathString bounds strings built by join, replace, pad_left and
	// pad_right.
	maxJMESPathString = 4 << 20
)

// compiledQuery is a compiled JMESPath query and its cost per KiB of input.
type compiledQuery struct {
	jp   jmespath.JMESPath
	cost int // AST nodes × growth bound
}

// compileJMESPath checks and compiles a query with MAA's custom functions.
// On failure it returns an error describing the problem.
func compileJMESPath(q string) (out compiledQuery, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = compiledQuery{}, fmt.Errorf("query rejected by the JMESPath parser: %v", r)
		}
	}()
	ast, err := parsing.NewParser().Parse(q)
	if err != nil {
		return compiledQuery{}, err
	}
	nodes, growth, err := queryShape(ast)
	if err != nil {
		return compiledQuery{}, err
	}
	if growth > maxQueryGrowth {
		return compiledQuery{}, fmt.Errorf("the query can produce values more than %d times the size of its input (nested multi-selects or projections); simplify it", maxQueryGrowth)
	}
	jp, err := jmespath.Compile(q, jmespathExtensions...)
	if err != nil {
		return compiledQuery{}, err
	}
	return compiledQuery{jp: jp, cost: nodes * growth}, nil
}

const growthCap = 1 << 30

func satMul(a, b int) int {
	if a != 0 && b > growthCap/a {
		return growthCap
	}
	return min(a*b, growthCap)
}

// queryShape returns the number of AST nodes and an upper bound on how many
// times larger than the input any value the query computes can be.
func queryShape(n parsing.ASTNode) (nodes, growth int, err error) {
	nodes = 1
	switch n.NodeType {
	case parsing.ASTLetExpression, parsing.ASTVariable, parsing.ASTBindings, parsing.ASTBinding:
		return 0, 0, errors.New("let expressions and variables are not supported")
	}
	if len(n.Children) == 0 {
		return 1, 1, nil
	}
	sum, prod := 0, 1
	for _, c := range n.Children {
		cn, cg, err := queryShape(c)
		if err != nil {
			return 0, 0, err
		}
		nodes += cn
		sum = min(sum+cg, growthCap)
		prod = satMul(prod, cg)
	}
	switch n.NodeType {
	case parsing.ASTSubexpression, parsing.ASTIndexExpression, parsing.ASTPipe,
		parsing.ASTProjection, parsing.ASTFilterProjection, parsing.ASTValueProjection:
		// The right side runs on (each element of) the left side's result.
		return nodes, prod, nil
	case parsing.ASTFunctionExpression:
		// map(&e, a), sort_by, ...: the expression runs per element.
		return nodes, max(sum, prod), nil
	}
	// Multi-selects hold all their parts; comparisons and the rest combine
	// their operands.
	return nodes, sum, nil
}

// jmespathExtensions are added to (and override) the library's functions.
var jmespathExtensions = []jmespath.FunctionEntry{{
	// equals_ignore_case(a, b), used by MAA's sample policies: true when both
	// are strings equal under Unicode case folding, false otherwise
	// (including when a field is missing and evaluates to null).
	Name: "equals_ignore_case",
	Arguments: []jmespath.ArgSpec{
		{Types: []jmespath.JpType{jmespath.JpAny}},
		{Types: []jmespath.JpType{jmespath.JpAny}},
	},
	Handler: func(args []any) (any, error) {
		a, ok1 := args[0].(string)
		b, ok2 := args[1].(string)
		return ok1 && ok2 && strings.EqualFold(a, b), nil
	},
}, {
	// keys, values and items return object members sorted by key: the
	// library's follow Go's random map order, and evaluation must be
	// deterministic.
	Name:      "keys",
	Arguments: []jmespath.ArgSpec{{Types: []jmespath.JpType{jmespath.JpObject}}},
	Handler: func(args []any) (any, error) {
		m := args[0].(map[string]any)
		out := make([]any, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, k)
		}
		return out, nil
	},
}, {
	Name:      "values",
	Arguments: []jmespath.ArgSpec{{Types: []jmespath.JpType{jmespath.JpObject}}},
	Handler: func(args []any) (any, error) {
		m := args[0].(map[string]any)
		out := make([]any, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, m[k])
		}
		return out, nil
	},
}, {
	Name:      "items",
	Arguments: []jmespath.ArgSpec{{Types: []jmespath.JpType{jmespath.JpObject}}},
	Handler: func(args []any) (any, error) {
		m := args[0].(map[string]any)
		out := make([]any, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, []any{k, m[k]})
		}
		return out, nil
	},
}, {
	// join, replace, pad_left and pad_right can build strings much larger
	// than their inputs: check the size first.
	Name: "join",
	Arguments: []jmespath.ArgSpec{
		{Types: []jmespath.JpType{jmespath.JpString}},
		{Types: []jmespath.JpType{jmespath.JpArrayString}},
	},
	Handler: func(args []any) (any, error) {
		sep := args[0].(string)
		items := args[1].([]any)
		n := len(sep) * max(len(items)-1, 0)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = it.(string)
			n += len(parts[i])
		}
		if n > maxJMESPathString {
			return nil, fmt.Errorf("join: result would be %d bytes, more than %d", n, maxJMESPathString)
		}
		return strings.Join(parts, sep), nil
	},
}, {
	Name: "replace",
	Arguments: []jmespath.ArgSpec{
		{Types: []jmespath.JpType{jmespath.JpString}},
		{Types: []jmespath.JpType{jmespath.JpString}},
		{Types: []jmespath.JpType{jmespath.JpString}},
		{Types: []jmespath.JpType{jmespath.JpNumber}, Optional: true},
	},
	Handler: func(args []any) (any, error) {
		s, old, repl := args[0].(string), args[1].(string), args[2].(string)
		count := -1
		if len(args) > 3 {
			f := args[3].(float64)
			if f < 0 || f != float64(int(f)) {
				return nil, errors.New("replace: count must be a non-negative integer")
			}
			count = int(f)
		}
		k := strings.Count(s, old)
		if count >= 0 && count < k {
			k = count
		}
		if n := len(s) + k*(len(repl)-len(old)); n > maxJMESPathString {
			return nil, fmt.Errorf("replace: result would be %d bytes, more than %d", n, maxJMESPathString)
		}
		return strings.Replace(s, old, repl, count), nil
	},
}, {
	// sort_by sorts a copy: the library sorts its argument in place, which
	// would reorder the (cached, shared) document for later queries.
	Name: "sort_by",
	Arguments: []jmespath.ArgSpec{
		{Types: []jmespath.JpType{jmespath.JpArray}},
		{Types: []jmespath.JpType{jmespath.JpExpref}},
	},
	Handler: sortBy,
}, pad("pad_left", true), pad("pad_right", false)}

func sortBy(args []any) (any, error) {
	arr, ok := args[0].([]any)
	if !ok {
		return nil, errors.New("sort_by: invalid type, must be an array")
	}
	exp := args[1].(jmespath.ExpRef)
	keys := make([]any, len(arr))
	for i, it := range arr {
		k, err := exp(it)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	idx := make([]int, len(arr))
	for i := range idx {
		idx[i] = i
	}
	if len(arr) > 0 {
		switch keys[0].(type) {
		case float64:
			for _, k := range keys {
				if _, ok := k.(float64); !ok {
					return nil, errors.New("sort_by: the expression must give numbers for every element")
				}
			}
			sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]].(float64) < keys[idx[b]].(float64) })
		case string:
			for _, k := range keys {
				if _, ok := k.(string); !ok {
					return nil, errors.New("sort_by: the expression must give strings for every element")
				}
			}
			sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]].(string) < keys[idx[b]].(string) })
		default:
			return nil, errors.New("sort_by: invalid type, must be number or string")
		}
	}
	out := make([]any, len(arr))
	for i, j := range idx {
		out[i] = arr[j]
	}
	return out, nil
}

func pad(name string, left bool) jmespath.FunctionEntry {
	return jmespath.FunctionEntry{
		Name: name,
		Arguments: []jmespath.ArgSpec{
			{Types: []jmespath.JpType{jmespath.JpString}},
			{Types: []jmespath.JpType{jmespath.JpNumber}},
			{Types: []jmespath.JpType{jmespath.JpString}, Optional: true},
		},
		Handler: func(args []any) (any, error) {
			s := args[0].(string)
			w := args[1].(float64)
			if w < 0 || w != float64(int(w)) {
				return nil, fmt.Errorf("%s: width must be a non-negative integer", name)
			}
			if w > maxJMESPathString {
				return nil, fmt.Errorf("%s: width %v is more than %d", name, w, maxJMESPathString)
			}
			p := " "
			if len(args) > 2 {
				p = args[2].(string)
				if len(p) != 1 {
					return nil, fmt.Errorf("%s: the pad argument must be a string of length 1", name)
				}
			}
			fill := strings.Repeat(p, max(int(w)-len(s), 0))
			if left {
				return fill + s, nil
			}
			return s + fill, nil
		},
	}
}
