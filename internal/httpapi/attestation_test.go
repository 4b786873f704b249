package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
)

func TestDecodeAttestRequestAsClientsSendIt(t *testing.T) {
	// 0xfb 0xff 0xfe: "-__-" in base64url, "+//+" in base64.
	cases := []struct {
		name string
		typ  evidence.Type
		body string
	}{
		{"camelCase unpadded base64url", evidence.SgxEnclave, `{"quote":"-__-","runtimeData":{"data":"-__-","dataType":"Binary"},"nonce":"n1"}`},
		{"PascalCase padded base64 (Newtonsoft sample)", evidence.SgxEnclave, `{"Quote":"+//+","RuntimeData":{"Data":"+//+","DataType":"Binary"},"Nonce":"n1"}`},
		{"C++ SDK inittimeData spelling, nonce as number", evidence.OpenEnclave, `{"report":"-__-","inittimeData":{"data":"-__-","dataType":"JSON"},"runtimeData":{"data":"-__-"},"nonce":12345}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeAttestRequest(tc.typ, types[tc.typ].member, []byte(tc.body), DefaultMaxNonceBytes)
			if err != nil {
				t.Fatal(err)
			}
			if string(req.Evidence) != "\xfb\xff\xfe" || req.RuntimeData == nil || string(req.RuntimeData.Bytes) != "\xfb\xff\xfe" || req.RuntimeData.JSON {
				t.Fatalf("decoded %+v", req)
			}
			if req.Nonce == nil || (*req.Nonce != "n1" && *req.Nonce != "12345") {
				t.Fatalf("nonce %v", req.Nonce)
			}
			if tc.typ == evidence.OpenEnclave && (req.InitTimeData == nil || !req.InitTimeData.JSON) {
				t.Fatalf("init-time data %+v", req.InitTimeData)
			}
		})
	}
}

func TestDecodeAttestRequestErrors(t *testing.T) {
	cases := []struct {
		name       string
		typ        evidence.Type
		body, want string
	}{
		{"not JSON", evidence.SgxEnclave, `quote=abc`, "not a JSON object"},
		{"array", evidence.SgxEnclave, `[]`, "not a JSON object"},
		{"missing quote", evidence.SgxEnclave, `{"report":"AAAA"}`, `no "quote"`},
		{"OE needs report", evidence.OpenEnclave, `{"quote":"AAAA"}`, `no "report"`},
		{"quote not string", evidence.SgxEnclave, `{"quote":5}`, "base64url string"},
		{"quote not base64", evidence.SgxEnclave, `{"quote":"***"}`, "not valid base64"},
		{"empty quote", evidence.SgxEnclave, `{"quote":""}`, "empty"},
		{"bad dataType", evidence.SgxEnclave, `{"quote":"AAAA","runtimeData":{"data":"AAAA","dataType":"XML"}}`, "Binary"},
		{"runtimeData without data", evidence.SgxEnclave, `{"quote":"AAAA","runtimeData":{}}`, `no "data"`},
		{"nonce object", evidence.SgxEnclave, `{"quote":"AAAA","nonce":{}}`, "nonce"},
		{"draft not string", evidence.SgxEnclave, `{"quote":"AAAA","draftPolicyForAttestation":1}`, "must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAttestRequest(tc.typ, types[tc.typ].member, []byte(tc.body), DefaultMaxNonceBytes)
			var e *maaerr.Error
			if !errors.As(err, &e) || e.Code != maaerr.InvalidParameter || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("err = %v, want InvalidParameter containing %q", err, tc.want)
			}
		})
	}
}

func TestRouterMatchesMAAPaths(t *testing.T) {
	rt := &router{}
	hit := ""
	mk := func(name string) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error { hit = name + ":" + param(r, "type"); return nil }
	}
	rt.handle("GET", "/policies/{type}", mk("get"))
	rt.handle("POST", "/policies/{type}:reset", mk("reset"))
	rt.handle("POST", "/certificates:add", mk("add"))
	for path, want := range map[string]string{
		"/policies/SgxEnclave":   "get:SgxEnclave",
		"/POLICIES/sgxenclave":   "get:sgxenclave",
		"/policies/Tpm:reset":    "reset:Tpm",
		"/policies/Tpm:RESET":    "reset:Tpm",
		"/certificates:add":      "add:",
		"/policies/OpenEnclave/": "get:OpenEnclave",
	} {
		method := "GET"
		if strings.Contains(path, ":") {
			method = "POST"
		}
		hit = ""
		r := httptest.NewRequest(method, path, nil)
		if err := rt.dispatch(httptest.NewRecorder(), r); err != nil || hit != want {
			t.Errorf("%s %s: hit %q err %v; want %q", method, path, hit, err, want)
		}
	}
	r := httptest.NewRequest("GET", "/policies/Tpm:reset", nil)
	if err := rt.dispatch(httptest.NewRecorder(), r); !errors.Is(err, &maaerr.Error{Code: maaerr.MethodNotAllowed}) {
		t.Errorf("GET on :reset = %v", err)
	}
	r = httptest.NewRequest("GET", "/policies/a/b", nil)
	if err := rt.dispatch(httptest.NewRecorder(), r); !errors.Is(err, maaerr.ErrNotFound) {
		t.Errorf("deep path = %v", err)
	}
}
