package keyrelease

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls a Maat server's key release surface. The zero HTTPClient
// means http.DefaultClient.
type Client struct {
	// Endpoint is the server's base URL (http://127.0.0.1:8080).
	Endpoint string
	// BearerToken authorizes management calls ("" sends none).
	BearerToken string
	HTTPClient  *http.Client
}

// ServiceError is an error answer of the server.
type ServiceError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("key release: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Endpoint, "/")+PathPrefix+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return &ServiceError{StatusCode: resp.StatusCode, Code: env.Error.Code, Message: env.Error.Message}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("key release: response: %w", err)
		}
	}
	return nil
}

// Create creates a key (PUT /x-maat/keys/{name}). It returns a
// *ServiceError for the server's refusals.
func (c *Client) Create(ctx context.Context, name string, req CreateRequest) (KeyInfo, error) {
	var out KeyInfo
	err := c.do(ctx, http.MethodPut, "/"+url.PathEscape(name), req, &out)
	return out, err
}

// List lists the keys (GET /x-maat/keys). It returns a *ServiceError for
// the server's refusals.
func (c *Client) List(ctx context.Context) ([]KeyInfo, error) {
	var out struct {
		Keys []KeyInfo `json:"keys"`
	}
	err := c.do(ctx, http.MethodGet, "", nil, &out)
	return out.Keys, err
}

// Delete deletes a key. It returns a *ServiceError for the server's
// refusals.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/"+url.PathEscape(name), nil, nil)
}

// Release asks for a key with an attestation token (POST
// /x-maat/keys/{name}/release). It returns a *ServiceError for the server's
// refusals (Forbidden with the policy's reason, Unauthorized for a token it
// does not accept).
func (c *Client) Release(ctx context.Context, name string, req ReleaseRequest) (Released, error) {
	var out Released
	err := c.do(ctx, http.MethodPost, "/"+url.PathEscape(name)+"/release", req, &out)
	return out, err
}
