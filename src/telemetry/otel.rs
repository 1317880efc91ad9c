//! Trace export over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set: a batch processor on the tokio runtime hands
//! finished spans to the exporter in the background (a request never waits for it, and a full
//! queue drops spans rather than block), the exporter posts them with the broker's outbound
//! HTTP client recipe, and a collector that does not answer costs one warning a minute. The
//! SDK reads the usual `OTEL_*` variables itself (endpoint, headers, timeout, sampler, resource
//! attributes); the broker only names itself `sts-broker` unless told otherwise.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// What the configuration found about tracing (the SDK reads the details itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingSettings {
    /// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names
    /// one: `sts-broker`.
    pub default_service_name: Option<String>,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: crate::trace::Sampler,
}

/// How often a failing collector is reported.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The OTLP exporter, with one warning a minute while exports fail.
#[derive(Debug)]
struct Warning<E> {
    inner: E,
    last_warned: Mutex<Option<Instant>>,
}

impl<E: SpanExporter> SpanExporter for Warning<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(error) = &result {
            let mut last = crate::sync::lock(&self.last_warned);
            if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                *last = Some(Instant::now());
                tracing::warn!(
                    error = %error, spans,
                    "trace export failed; spans are dropped until the collector answers"
                );
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The provider and a tracer for the `tracing` layer; must run inside the tokio runtime.
pub(crate) fn provider(
    settings: &TracingSettings,
) -> Result<(SdkTracerProvider, SdkTracer), String> {
    let http = crate::http_client::client(Duration::from_secs(5), Duration::from_secs(10))
        .map_err(|e| format!("trace exporter: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http)
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("trace exporter: {e}"))?;
    let exporter = Warning {
        inner: exporter,
        last_warned: Mutex::new(None),
    };
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let mut resource = Resource::builder();
    if let Some(name) = &settings.default_service_name {
        resource = resource.with_service_name(name.clone());
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        // Every span that reaches the SDK was sampled already (`trace::decide`, `trace::span`).
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("sts-broker");
    Ok((provider, tracer))
}
