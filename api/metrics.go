package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	webhookRequests *prometheus.CounterVec
	alertsReceived  *prometheus.CounterVec
	ingestDuration  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_webhook_requests_total",
			Help: "Webhook requests by HTTP status code.",
		}, []string{"code"}),
		alertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_alerts_received_total",
			Help: "Alerts received in stored webhooks, by status (firing, resolved).",
		}, []string{"status"}),
		ingestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "remediator_webhook_ingest_duration_seconds",
			Help:    "Time from a webhook request's start to its answer, including the durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
	}
	for _, c := range []prometheus.Collector{m.webhookRequests, m.alertsReceived, m.ingestDuration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}
