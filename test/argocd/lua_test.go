// Package argocd runs the Argo CD health check and actions of config/argocd, as
// Argo CD would, on sample VoipbinCredentials.
package argocd

import (
	"fmt"
	"os"
	"sort"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/voipbin/credential-operator/test/manifests"
)

// The argocd-cm keys of the VoipbinCredential's customizations.
const (
	healthKey  = "resource.customizations.health.credentials.voipbin.net_VoipbinCredential"
	actionsKey = "resource.customizations.actions.credentials.voipbin.net_VoipbinCredential"
)

// customizations is the Lua of config/argocd/argocd-cm.yaml, as Argo CD reads it.
type customizations struct {
	health, discovery string
	actions           map[string]string
}

// loadCustomizations reads the argocd-cm snippet and checks that its Lua is that
// of the .lua files beside it, which are the ones people read and edit.
func loadCustomizations(t *testing.T) customizations {
	t.Helper()
	data, err := os.ReadFile(manifests.Path("config/argocd/argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind     string
		Metadata struct{ Name string }
		Data     map[string]string
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Fatalf("config/argocd/argocd-cm.yaml is a %s %s, want the ConfigMap argocd-cm", cm.Kind, cm.Metadata.Name)
	}
	var actions struct {
		Discovery   string `json:"discovery.lua"`
		Definitions []struct {
			Name   string
			Action string `json:"action.lua"`
		}
	}
	if err := yaml.Unmarshal([]byte(cm.Data[actionsKey]), &actions); err != nil {
		t.Fatalf("%s: %v", actionsKey, err)
	}
	c := customizations{health: cm.Data[healthKey], discovery: actions.Discovery, actions: map[string]string{}}
	for _, d := range actions.Definitions {
		c.actions[d.Name] = d.Action
	}

	same := func(what, snippet, file string) {
		want, err := os.ReadFile(manifests.Path("config/argocd/" + file))
		if err != nil {
			t.Fatal(err)
		}
		if snippet != string(want) {
			t.Errorf("argocd-cm.yaml's %s differs from config/argocd/%s", what, file)
		}
	}
	same("health check", c.health, "health.lua")
	same("discovery.lua", c.discovery, "actions/discovery.lua")
	same("refresh action", c.actions["refresh"], "actions/refresh/action.lua")
	return c
}

// newState makes a Lua state with what Argo CD's sandbox offers: the base, table,
// string and math libraries, and of os only clock, date, difftime and time.
func newState() *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	full := L.GetGlobal("os").(*lua.LTable)
	safe := L.NewTable()
	for _, name := range []string{"clock", "date", "difftime", "time"} {
		safe.RawSetString(name, full.RawGetString(name))
	}
	L.SetGlobal("os", safe)
	return L
}

// run runs script with the global obj set to object, as Argo CD does, and returns
// what the script returned.
func run(script string, object map[string]any) (any, error) {
	L := newState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, object))
	if err := L.DoString(script); err != nil {
		return nil, err
	}
	if L.GetTop() != 1 {
		return nil, fmt.Errorf("the script returned %d values, want 1", L.GetTop())
	}
	return fromLua(L.Get(-1)), nil
}

// toLua converts a decoded JSON or YAML value to Lua, as Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	default:
		panic(fmt.Sprintf("toLua: %T", v))
	}
}

// fromLua converts back: a table with only the keys 1..n is a list.
func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case *lua.LTable:
		if n := v.MaxN(); n > 0 && v.Len() == n {
			list := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				list = append(list, fromLua(v.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		v.ForEach(func(k, e lua.LValue) { m[k.String()] = fromLua(e) })
		return m
	default:
		return v.String()
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
