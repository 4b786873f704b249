package policy

// Limits bound the work a policy can cause. A zero field means "use the
// default" (see DefaultLimits); Limits is a plain value and is never mutated.
type Limits struct {
	MaxPolicyBytes int // size of the policy text (default 256 KiB)
	MaxRules       int // rules in all sections together (default 1000)
	MaxConditions  int // conditions in one rule (default 64)
	MaxNesting     int // nesting depth of function calls (default 16)

	MaxSteps     int // evaluation steps: claims examined + functions called (default 1,000,000)
	MaxClaims    int // claims in the incoming set, including added ones (default 10,000)
	MaxJSONBytes int // size of one JSON document given to JmesPath or JsonToClaimValue (default 4 MiB)
	MaxJSONDepth int // nesting depth of such a document (default 64)
	MaxValueLen  int // length of a string value a function produces (default 4 MiB)
	MaxQueryLen  int // length of a JMESPath query, literal or computed (default 8 KiB)
}

// DefaultLimits returns the limits Parse uses.
func DefaultLimits() Limits {
	return Limits{
		MaxPolicyBytes: 256 << 10,
		MaxRules:       1000,
		MaxConditions:  64,
		MaxNesting:     16,
		MaxSteps:       1_000_000,
		MaxClaims:      10_000,
		MaxJSONBytes:   4 << 20,
		MaxJSONDepth:   64,
		MaxValueLen:    4 << 20,
		MaxQueryLen:    8 << 10,
	}
}

// withDefaults returns l with every zero (or negative) field replaced by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxPolicyBytes, d.MaxPolicyBytes)
	set(&l.MaxRules, d.MaxRules)
	set(&l.MaxConditions, d.MaxConditions)
	set(&l.MaxNesting, d.MaxNesting)
	set(&l.MaxSteps, d.MaxSteps)
	set(&l.MaxClaims, d.MaxClaims)
	set(&l.MaxJSONBytes, d.MaxJSONBytes)
	set(&l.MaxJSONDepth, d.MaxJSONDepth)
	set(&l.MaxValueLen, d.MaxValueLen)
	set(&l.MaxQueryLen, d.MaxQueryLen)
	return l
}
