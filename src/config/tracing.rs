//! The OpenTelemetry variables the broker looks at: whether an OTLP endpoint is set (traces are
//! exported only then), and whether the sampler and service name are ones the SDK understands.
//! The SDK reads the other values itself, as every OpenTelemetry SDK does; the sampler is
//! applied by the broker before a span is built (`trace::decide`).

use super::reader::Reader;
use crate::telemetry::TracingSettings;
use crate::trace::Sampler;

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// `Some(None)`: no endpoint, no traces; `None`: a variable is invalid (in `r`).
pub(crate) fn read(r: &mut Reader<'_>) -> Option<Option<TracingSettings>> {
    let before = r.problems.len();
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ] {
        r.parsed(name, None, collector_url);
    }
    let endpoint =
        r.is_set("OTEL_EXPORTER_OTLP_ENDPOINT") || r.is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let sampler = r.parsed("OTEL_TRACES_SAMPLER", None, |raw| {
        SAMPLERS
            .contains(&raw)
            .then(|| raw.to_owned())
            .ok_or_else(|| format!("must be one of {}", SAMPLERS.join(", ")))
    });
    let ratio = r.get("OTEL_TRACES_SAMPLER_ARG");
    r.parsed("OTEL_TRACES_SAMPLER_ARG", None, |raw| {
        match raw.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
            _ => Err("must be a sampling ratio from 0 to 1, e.g. 0.1".to_owned()),
        }
    });
    if r.is_set("OTEL_TRACES_SAMPLER_ARG")
        && !sampler
            .as_deref()
            .is_some_and(|s| s.ends_with("traceidratio"))
    {
        r.problem(
            "OTEL_TRACES_SAMPLER_ARG",
            "is read only with OTEL_TRACES_SAMPLER=traceidratio or parentbased_traceidratio",
        );
    }
    let named = r
        .get("OTEL_SERVICE_NAME")
        .is_some_and(|n| !n.trim().is_empty())
        || r.get("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
            attrs
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        });
    if r.problems.len() != before {
        return None;
    }
    // Both values were checked above, so the sampler has nothing to fall back from.
    let (sampler, _) = Sampler::from_values(sampler.as_deref(), ratio.as_deref());
    Some(endpoint.then(|| TracingSettings {
        default_service_name: (!named).then(|| "sts-broker".to_owned()),
        sampler,
    }))
}

/// `http://` or `https://` with a host: a collector is often plain HTTP inside the cluster
/// (spans carry no secret).
fn collector_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://otel-collector:4318".into());
    }
    Ok(())
}
