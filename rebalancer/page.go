package rebalancer

import (
	"net/http"

	promversion "github.com/prometheus/common/version"

	"github.com/lbpilot/lbpilot/rebalancer/webui"
)

// mountPage serves the operator page at "/" (unless the metrics are
// there). The page reads and writes only through this same mux, so it is
// behind the same auth as the API.
func (r *Rebalancer) mountPage(mux *http.ServeMux, telemetryPath string) {
	if telemetryPath == "/" {
		return
	}
	page, err := webui.New(webui.Options{
		API:     mux,
		Version: promversion.Info(),
		Links: []webui.Link{
			{Address: telemetryPath, Text: "Metrics"},
			{Address: "/api/v1/state", Text: "State (JSON)"},
			{Address: "/api/v1/history", Text: "History (JSON)"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Ready"},
		},
	})
	mux.Handle("/", pageOr500(page, err))
}

// pageOr500 is the page, or when it could not be built (only a broken
// build, its embedded template, gets there) an answer saying why.
func pageOr500(page http.Handler, err error) http.Handler {
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "operator page: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return page
}
