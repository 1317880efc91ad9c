//! The sampling decision, made before any span exists: the sampler configured with
//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (the names and fallbacks of the
//! OpenTelemetry specification) applied to the caller's W3C `traceparent`, parsed here without
//! allocating. A request that is not sampled then costs no span at all.

use actix_web::http::header::{HeaderMap, HeaderValue};

/// What a sampler does for a trace it starts (or, when not parent-based, for every trace).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    AlwaysOn,
    AlwaysOff,
    /// `traceidratio`: the fraction of trace ids sampled, decided on the trace id's low 63 bits
    /// so every service that uses the same rule agrees.
    Ratio(f64),
}

/// The configured sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    pub root: Root,
    /// `parentbased_*`: a caller's trace is followed as the caller sampled it.
    pub parent_based: bool,
}

// The ratio is a finite number from 0 to 1 (never NaN), so equality is total.
impl Eq for Sampler {}

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        Self {
            root: Root::AlwaysOn,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The sampler `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name, and a warning when
    /// the value is not one this broker knows (then the default) or the ratio is missing or
    /// not a number (then 1.0).
    pub fn from_values(name: Option<&str>, arg: Option<&str>) -> (Self, Option<String>) {
        let Some(name) = name else {
            return (Self::default(), None);
        };
        let (parent_based, root_name) = match name.strip_prefix("parentbased_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let mut warning = None;
        let root = match root_name {
            "always_on" => Root::AlwaysOn,
            "always_off" => Root::AlwaysOff,
            "traceidratio" => match arg.and_then(|a| a.trim().parse::<f64>().ok()) {
                Some(r) if r.is_finite() => Root::Ratio(r.clamp(0.0, 1.0)),
                _ => {
                    warning = Some(
                        "OTEL_TRACES_SAMPLER_ARG is missing or not a number; ratio 1.0".to_owned(),
                    );
                    Root::Ratio(1.0)
                }
            },
            _ => {
                let shown: String = name.chars().take(40).collect();
                let warning = format!(
                    "OTEL_TRACES_SAMPLER {shown:?} is not always_on, always_off, traceidratio or \
                     parentbased_* of these; using parentbased_always_on"
                );
                return (Self::default(), Some(warning));
            }
        };
        (Self { root, parent_based }, warning)
    }

    /// Whether a request with this caller's `parent` (if any) is sampled. `new_trace_low` gives
    /// the low 64 bits of a fresh trace id when one is needed (a ratio decision on a new trace).
    pub fn sampled(
        &self,
        parent: Option<&TraceParent>,
        new_trace_low: impl FnOnce() -> u64,
    ) -> bool {
        match (parent, self.parent_based) {
            (Some(p), true) => p.sampled,
            (Some(p), false) => self.root_decides(|| p.trace_low()),
            (None, _) => self.root_decides(new_trace_low),
        }
    }

    fn root_decides(&self, trace_low: impl FnOnce() -> u64) -> bool {
        match self.root {
            Root::AlwaysOn => true,
            Root::AlwaysOff => false,
            Root::Ratio(r) if r >= 1.0 => true,
            Root::Ratio(r) => {
                let bound = (r.max(0.0) * (1u64 << 63) as f64) as u64;
                (trace_low() >> 1) < bound
            }
        }
    }
}

/// A caller's valid `traceparent` (and its `tracestate`, passed on untouched).
#[derive(Debug, Clone)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
    pub state: Option<HeaderValue>,
}

fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

impl TraceParent {
    /// The request's `traceparent` when it is valid under W3C Trace Context: version `00` with
    /// exactly four fields, or a later version (not `ff`) whose first four fields have the
    /// version-00 layout; lowercase hex; neither id all zeros. Anything else: `None`.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get("traceparent")?.as_bytes();
        let value = value.trim_ascii();
        if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let mut version = [0u8; 1];
        hex_into(&value[..2], &mut version)?;
        match version[0] {
            0 if value.len() != 55 => return None,
            0xff => return None,
            v if v > 0 && value.len() > 55 && value[55] != b'-' => return None,
            _ => {}
        }
        let mut parent = Self {
            trace_id: [0; 16],
            span_id: [0; 8],
            sampled: false,
            state: None,
        };
        let mut flags = [0u8; 1];
        hex_into(&value[3..35], &mut parent.trace_id)?;
        hex_into(&value[36..52], &mut parent.span_id)?;
        hex_into(&value[53..55], &mut flags)?;
        if parent.trace_id == [0; 16] || parent.span_id == [0; 8] {
            return None;
        }
        parent.sampled = flags[0] & 1 == 1;
        parent.state = headers
            .get("tracestate")
            .filter(|v| v.len() <= 512 && v.to_str().is_ok())
            .cloned();
        Some(parent)
    }

    /// A new trace's ids: random, never all zero; not sampled, no state.
    pub fn fresh() -> Self {
        Self {
            trace_id: fastrand::u128(1..).to_be_bytes(),
            span_id: fastrand::u64(1..).to_be_bytes(),
            sampled: false,
            state: None,
        }
    }

    pub(super) fn trace_low(&self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.trace_id[8..]);
        u64::from_be_bytes(low)
    }

    /// The `traceparent` sent on for a request the broker does not sample: the caller's trace
    /// and span, flagged not sampled (the broker recorded nothing of its own).
    pub fn unsampled_header(&self) -> String {
        format!(
            "00-{}-{}-00",
            hex::encode(self.trace_id),
            hex::encode(self.span_id)
        )
    }
}

#[cfg(test)]
#[path = "sampling_tests.rs"]
mod tests;
