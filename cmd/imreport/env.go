package main

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/sethvargo/go-envconfig"
)

// env is the raw environment, as strings by variable name, so that every
// problem can be reported at once instead of the first parse error.
type env map[string]string

// get returns the raw value of the variable called name (its default
// applied). Reading a variable that variables does not declare is a
// programming error.
func (e env) get(name string) string {
	v, ok := e[name]
	if !ok {
		panic("imreport: " + name + " is not declared in variables (vars.go)")
	}
	return v
}

// envStruct is the struct go-envconfig decodes into: one string field per
// variable, in the order of variables, tagged with its name and default.
var envStruct = sync.OnceValue(func() reflect.Type {
	fields := make([]reflect.StructField, len(variables))
	for i, v := range variables {
		tag := v.Name
		if v.Default != "" {
			tag += ", default=" + v.Default
		}
		fields[i] = reflect.StructField{
			Name: v.Name, // IMREPORT_... is an exported Go identifier
			Type: reflect.TypeFor[string](),
			Tag:  reflect.StructTag(fmt.Sprintf("env:%q", tag)),
		}
	}
	return reflect.StructOf(fields)
})

// readEnv decodes every variable through go-envconfig.
func readEnv(ctx context.Context, lookup envconfig.Lookuper) (env, error) {
	target := reflect.New(envStruct())
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target.Interface(), Lookuper: lookup}); err != nil {
		return nil, fmt.Errorf("reading the environment: %w", err)
	}
	e := make(env, len(variables))
	for i, v := range variables {
		e[v.Name] = target.Elem().Field(i).String()
	}
	return e, nil
}
