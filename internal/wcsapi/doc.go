// Package wcsapi reads Flashphoner Web Call Server's statistics page
// (`/?action=stat`, text or JSON form): the URL, one GET, a tolerant parser
// into typed Stats, and the sums the agent script of WCS's docs computes
// (publishers, subscribers, bandwidth, CPU). It knows nothing of
// Prometheus: collectors/wcs turns Stats into wcs_* metrics and the agent
// turns them into weights.
package wcsapi
